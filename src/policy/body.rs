//! The strict JSON reader for intercepted bodies (SPEC §3) and the byte-preserving patcher.
//!
//! Two parsers that disagree on a body are a bypass: one that keeps the first of two
//! duplicate members and one that keeps the last will see different modes. So the reader
//! refuses duplicates at any depth (after unescaping, so `"is_first\u005fparty"` is a
//! duplicate of `"is_first_party"`), a byte-order mark, trailing bytes, and nesting deeper
//! than [`MAX_DEPTH`]. It never coerces: the rules see the JSON types as sent.
//!
//! Injection never re-serialises the body: it appends members before the closing brace of
//! the top-level object, so every other member keeps its order, spacing and number text.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Patch;

/// Deepest nesting accepted; the top-level object is depth 1.
pub const MAX_DEPTH: usize = 32;

/// Why a body is not one strict JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is empty; send one JSON object")]
    Empty,
    #[error("the body starts with a byte-order mark; send UTF-8 JSON without one")]
    ByteOrderMark,
    #[error("the body is not valid UTF-8")]
    NotUtf8,
    #[error("the body must be one JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("duplicate member `{0}`; each member name may appear once per object")]
    Duplicate(String),
    #[error("the body nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the body is not valid JSON: {0}")]
    Syntax(String),
}

/// A parsed top-level object, with what is needed to patch its original bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObject {
    pub members: Map<String, Value>,
    /// Offset of the closing `}` of the top-level object in the original bytes.
    close_brace: usize,
}

impl JsonObject {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members.get(name)
    }

    /// Follows a dotted path (`jwt_configuration.alg`) through nested objects.
    pub fn get_path(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut value = self.members.get(first)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    /// The original bytes with `patch`'s members appended to the top-level object.
    pub fn inject(&self, original: &[u8], patch: &Patch) -> Vec<u8> {
        self.splice().apply(original, patch)
    }

    /// Where members are appended to this object's original bytes.
    pub fn splice(&self) -> Splice {
        Splice { close_brace: self.close_brace, empty: self.members.is_empty() }
    }
}

/// Where an injection goes in a parsed body's bytes: before the closing brace of the
/// top-level object, after a comma unless the object is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    close_brace: usize,
    empty: bool,
}

impl Splice {
    /// `original` (the bytes the object was parsed from) with `patch`'s members appended.
    pub fn apply(&self, original: &[u8], patch: &Patch) -> Vec<u8> {
        let (head, tail) = original.split_at(self.close_brace.min(original.len()));
        let mut out = Vec::with_capacity(original.len() + 64 * patch.members.len());
        out.extend_from_slice(head);
        let mut first = self.empty;
        for (name, value) in &patch.members {
            if !first {
                out.push(b',');
            }
            first = false;
            // A `&str` and a `Value` always serialise; the fallback keeps the body valid anyway.
            let name = serde_json::to_string(name).unwrap_or_else(|_| String::from("\"\""));
            let value = serde_json::to_string(value).unwrap_or_else(|_| String::from("null"));
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(tail);
        out
    }
}

/// Parses `raw` as exactly one strict JSON object (SPEC §3).
pub fn parse_object(raw: &[u8]) -> Result<JsonObject, BodyError> {
    if raw.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(BodyError::ByteOrderMark);
    }
    if std::str::from_utf8(raw).is_err() {
        return Err(BodyError::NotUtf8);
    }
    let trimmed_end = raw.iter().rposition(|b| !is_json_space(*b)).map(|at| at + 1).unwrap_or(0);
    if raw.iter().all(|b| is_json_space(*b)) {
        return Err(BodyError::Empty);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = StrictValue { depth: 1 }.deserialize(&mut deserializer).map_err(classify_error)?;
    deserializer.end().map_err(classify_error)?;
    match value {
        Value::Object(members) => Ok(JsonObject { members, close_brace: trimmed_end.saturating_sub(1) }),
        other => Err(BodyError::NotAnObject(json_type(&other))),
    }
}

/// The JSON type name used in messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_json_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

const DUPLICATE_PREFIX: &str = "modegate-duplicate:";
const TOO_DEEP: &str = "modegate-too-deep";

fn classify_error(error: serde_json::Error) -> BodyError {
    let text = error.to_string();
    if let Some(rest) = text.strip_prefix(DUPLICATE_PREFIX) {
        // serde_json appends " at line L column C"; the name is everything before it
        let name = rest.rsplit_once(" at line ").map_or(rest, |(name, _)| name);
        return BodyError::Duplicate(truncate(name, 64));
    }
    if text.starts_with(TOO_DEEP) || text.starts_with("recursion limit exceeded") {
        return BodyError::TooDeep;
    }
    BodyError::Syntax(text)
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

/// Builds a `Value`, refusing duplicate member names and nesting past [`MAX_DEPTH`].
struct StrictValue {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json refuses out-of-range numbers itself; this cannot be NaN or infinite
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.nested::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue { depth })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.nested::<A::Error>()?;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_PREFIX}{name}")));
            }
            let value = map.next_value_seed(StrictValue { depth })?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

impl StrictValue {
    /// The depth of this container's children, or an error past the limit.
    fn nested<E: de::Error>(&self) -> Result<usize, E> {
        if self.depth > MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(self.depth + 1)
    }
}

#[cfg(test)]
mod tests;
