use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

#[track_caller]
fn err(raw: &str) -> BodyError {
    parse_object(raw.as_bytes()).unwrap_err()
}

#[test]
fn parses_objects_in_member_order() {
    let object = parse_object(br#" {"b":1,"a":{"c":[true,null]}} "#).unwrap();
    assert_eq!(object.members.keys().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(object.get_path("a.c"), Some(&json!([true, null])));
    assert_eq!(object.get_path("a.missing"), None);
    assert_eq!(object.get_path("b.c"), None);
}

#[test]
fn refuses_what_two_parsers_could_read_differently() {
    assert_eq!(err(r#"{"a":1,"a":2}"#), BodyError::Duplicate("a".into()));
    assert_eq!(err(r#"{"x":{"a":1,"a":1}}"#), BodyError::Duplicate("a".into()));
    assert_eq!(err(r#"{"a":1,"\u0061":2}"#), BodyError::Duplicate("a".into()));
    assert_eq!(err(r#"[{"a":1,"a":2}]"#), BodyError::Duplicate("a".into()));
    assert_eq!(parse_object(b"\xEF\xBB\xBF{}").unwrap_err(), BodyError::ByteOrderMark);
    assert_eq!(parse_object(b"{\"a\":\"\xC3\x28\"}").unwrap_err(), BodyError::NotUtf8);
    assert_eq!(err(""), BodyError::Empty);
    assert_eq!(err("  \n"), BodyError::Empty);
    assert!(matches!(err("{} {}"), BodyError::Syntax(_)));
    assert!(matches!(err("{}x"), BodyError::Syntax(_)));
    assert!(matches!(err("{'a':1}"), BodyError::Syntax(_)));
    assert!(matches!(err(r#"{"a":NaN}"#), BodyError::Syntax(_)));
    assert!(matches!(err(r#"{"a":"\ud800"}"#), BodyError::Syntax(_)));
    assert_eq!(err("[]"), BodyError::NotAnObject("an array"));
    assert_eq!(err("null"), BodyError::NotAnObject("null"));
    assert_eq!(err("12"), BodyError::NotAnObject("a number"));
}

#[test]
fn depth_limit_is_exact() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
    let at_limit = format!("{{\"a\":{}}}", nested(MAX_DEPTH));
    assert!(parse_object(at_limit.as_bytes()).is_ok(), "depth {MAX_DEPTH} is allowed");
    let over = format!("{{\"a\":{}}}", nested(MAX_DEPTH + 1));
    assert_eq!(parse_object(over.as_bytes()).unwrap_err(), BodyError::TooDeep);
    let very_deep = format!("{{\"a\":{}}}", nested(10_000));
    assert_eq!(parse_object(very_deep.as_bytes()).unwrap_err(), BodyError::TooDeep);
}

#[test]
fn duplicate_names_in_messages_are_capped() {
    let name = "n".repeat(500);
    let BodyError::Duplicate(shown) = err(&format!(r#"{{"{name}":1,"{name}":2}}"#)) else { panic!() };
    assert!(shown.chars().count() <= 65);
}

#[test]
fn inject_appends_and_keeps_every_original_byte() {
    let raw = br#"{ "n": 1.50E+3 , "s":"\u00e9" }   "#;
    let object = parse_object(raw).unwrap();
    let mut patch = Patch::default();
    patch.push("m", json!("strict"));
    patch.push("g", json!(["authorization_code"]));
    let out = object.inject(raw, &patch);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{ "n": 1.50E+3 , "s":"\u00e9" ,"m":"strict","g":["authorization_code"]}   "#
    );
    let empty = parse_object(b"{\n}").unwrap();
    assert_eq!(
        empty.inject(b"{\n}", &patch),
        br#"{
"m":"strict","g":["authorization_code"]}"#
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z\\\\\"é☃ ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Injecting then re-reading keeps every original member, in order, and adds exactly the patch.
    #[test]
    fn inject_round_trip(members in prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..6), pretty in any::<bool>()) {
        let value = Value::Object(members.into_iter().collect());
        let raw = if pretty { serde_json::to_vec_pretty(&value).unwrap() } else { serde_json::to_vec(&value).unwrap() };
        let object = parse_object(&raw).unwrap();
        let mut patch = Patch::default();
        patch.push("third_party_security_mode", json!("strict"));
        let out = object.inject(&raw, &patch);
        let reread = parse_object(&out).unwrap();
        let original: Vec<_> = object.members.iter().collect();
        let after: Vec<_> = reread.members.iter().take(original.len()).collect();
        prop_assert_eq!(original, after);
        prop_assert_eq!(reread.get("third_party_security_mode"), Some(&json!("strict")));
        prop_assert_eq!(reread.members.len(), object.members.len() + 1);
        // the original bytes stand unchanged before the injection point
        let close = raw.iter().rposition(|b| *b == b'}').unwrap();
        prop_assert_eq!(&out[..close], &raw[..close]);
    }

    /// The reader never panics, whatever the bytes.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_object(&bytes);
    }
}
