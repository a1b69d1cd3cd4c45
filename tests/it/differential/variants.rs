//! Request variants for the differential harness: legitimate base requests, mutations
//! from each class of SPEC §16 (path encodings, method overrides, host headers, member
//! foldings, query merging, hop-by-hop nominations, bodies on GET) and seeded
//! combinations of them.

use crate::support::tokens::valid_for;

#[derive(Debug, Clone)]
pub struct Variant {
    /// Base and mutations, e.g. `create_strict + fold(THIRD_PARTY_SECURITY_MODE)`.
    pub label: String,
    pub method: String,
    pub target: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Variant {
    fn base(label: &str, method: &str, target: &str, host: &str, body: &str) -> Variant {
        Variant {
            label: label.to_owned(),
            method: method.to_owned(),
            target: target.to_owned(),
            host: host.to_owned(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Authorization".into(), format!("Bearer {}", valid_for(host))),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    /// The request as raw HTTP/1.1 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", self.method, self.target, self.host).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: ").as_bytes());
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let chunked = self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
        if !chunked && (!self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PATCH" | "PUT")) {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    fn then(mut self, mutation: &str) -> Variant {
        self.label = format!("{} + {mutation}", self.label);
        self
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// Inserts `"name":value` as the first member of a JSON object body.
    fn add_member(&mut self, name: &str, value: &str) {
        let name = serde_json::to_string(name).unwrap_or_default();
        let rest = self.body.strip_prefix(b"{").unwrap_or(&self.body).to_vec();
        let separator = if rest.starts_with(b"}") { "" } else { "," };
        self.body = format!("{{{name}:{value}{separator}").into_bytes();
        self.body.extend_from_slice(&rest);
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    fn add_query(&mut self, query: &str) {
        let joiner = if self.target.contains('?') { '&' } else { '?' };
        self.target = format!("{}{joiner}{query}", self.target);
    }
}

/// Requests the policy has something to say about. Hosts: `acme` (eligible, permissive
/// DCR), `globex` (ineligible, strict, with default permissions), `initech` (ineligible,
/// strict DCR without default permissions: every registration is refused).
pub fn bases() -> Vec<Variant> {
    vec![
        Variant::base("create_first_party", "POST", "/api/v2/clients", "globex.example.test", r#"{"name":"x"}"#),
        Variant::base(
            "create_strict",
            "POST",
            "/api/v2/clients",
            "globex.example.test",
            r#"{"name":"x","is_first_party":false,"third_party_security_mode":"strict"}"#,
        ),
        Variant::base(
            "create_permissive_eligible",
            "POST",
            "/api/v2/clients",
            "acme.example.test",
            r#"{"name":"x","is_first_party":false,"third_party_security_mode":"permissive"}"#,
        ),
        Variant::base(
            "dcr_permissive",
            "POST",
            "/oidc/register",
            "acme.example.test",
            r#"{"redirect_uris":["https://a.test/cb"]}"#,
        ),
        Variant::base(
            "settings",
            "PATCH",
            "/api/v2/tenants/settings",
            "globex.example.test",
            r#"{"friendly_name":"x"}"#,
        ),
        Variant::base("update_strict", "PATCH", "/api/v2/clients/tpc_abc", "globex.example.test", r#"{"name":"y"}"#),
        Variant::base(
            "grant",
            "POST",
            "/api/v2/client-grants",
            "globex.example.test",
            r#"{"client_id":"c1","audience":"https://api.globex.test","scope":["read:orders"]}"#,
        ),
        Variant::base("users", "POST", "/api/v2/users", "globex.example.test", r#"{"email":"a@b.test"}"#),
        Variant::base("other", "POST", "/userinfo", "globex.example.test", r#"{"x":1}"#),
    ]
}

/// A mutation: takes a variant, returns the mutated one (or `None` when it does not apply).
type Mutation = fn(&Variant, usize) -> Option<Variant>;

/// Every mutation class, each with a number of spellings chosen by its second argument.
pub const MUTATIONS: &[(&str, Mutation, usize)] = &[
    ("path", mutate_path, 23),
    ("override", mutate_override, 12),
    ("host", mutate_host, 6),
    ("fold", mutate_member, 14),
    ("query", mutate_query, 5),
    ("hop", mutate_hop, 5),
    ("body", mutate_body_framing, 6),
];

fn mutate_path(v: &Variant, which: usize) -> Option<Variant> {
    let path = v.path().to_owned();
    let (dir, last) = path.rsplit_once('/')?;
    let other = "initech.example.test";
    let aliased = match which {
        0 => format!("//{other}{path}"),
        1 => format!("{path}.json"),
        2 => format!("{path}."),
        3 => format!("{path}%20"),
        4 => format!("{path}%09"),
        5 => format!("{path}%C2%A0"),
        6 => format!("{path}%E2%80%8B"),
        7 => path.replacen('/', "%EF%BC%8F", 2).replacen("%EF%BC%8F", "/", 1),
        8 => path.replacen('/', "%C0%AF", 2).replacen("%C0%AF", "/", 1),
        9 => path.replacen('/', "\\", 2).replacen('\\', "/", 1),
        10 => path.replacen('/', "%5C", 2).replacen("%5C", "/", 1),
        11 => format!("{dir}%2F{last}"),
        12 => path.to_uppercase(),
        13 => format!("/x/%2e%2e{path}"),
        14 => format!("{path};x=1"),
        15 => format!("/x/..{path}"),
        16 => format!("/{dir}//{last}"),
        17 => format!("{dir}/%252F{last}"),
        18 => format!("{path}/"),
        19 => format!("{dir}/{}", last.replace('s', "%C5%BF")),
        20 => format!("{path}%00"),
        21 => format!("{dir}/{last}%E2%80%A4json"),
        22 => format!("/\\{other}{path}"),
        _ => return None,
    };
    let query = v.target.strip_prefix(v.path()).unwrap_or_default().to_owned();
    let mut out = v.clone().then(&format!("path({aliased})"));
    out.target = format!("{aliased}{query}");
    Some(out)
}

/// Turns the request into a POST that some framework reads as a PATCH of the tenant
/// settings, with a change the policy forbids for globex (permissive DCR, ineligible).
fn mutate_override(v: &Variant, which: usize) -> Option<Variant> {
    let mut out = v.clone().then(&format!("override#{which}"));
    out.method = "POST".into();
    out.target =
        if v.path().starts_with("/api/v2/clients/") { v.target.clone() } else { "/api/v2/tenants/settings".into() };
    if out.target.starts_with("/api/v2/tenants") {
        out.body = br#"{"dynamic_client_registration_security_mode":"permissive"}"#.to_vec();
    } else {
        out.body = br#"{"sso":true}"#.to_vec();
    }
    match which {
        0 => out.set_header("X-HTTP-Method-Override", "PATCH"),
        1 => out.set_header("X_HTTP_METHOD_OVERRIDE", "PATCH"),
        2 => out.set_header("x-http-method-override", "patch"),
        3 => out.set_header("X-Method-Override", "PATCH"),
        4 => out.set_header("X-HTTP-Method", "PATCH"),
        5 => out.add_query("_method=PATCH"),
        6 => out.add_query("_METHOD=PATCH"),
        7 => out.add_query("%5Fmethod=PATCH"),
        8 => out.add_member("_method", "\"PATCH\""),
        9 => {
            out.set_header("Content-Type", "application/x-www-form-urlencoded");
            out.body = b"_method=PATCH&dynamic_client_registration_security_mode=permissive&sso=true".to_vec();
        }
        10 => out.method = "post".into(),
        11 => {
            out.method = "PATCH".into();
            out.set_header("X-HTTP-Method-Override", "PUT");
        }
        _ => return None,
    }
    Some(out)
}

/// Names another tenant than `Host` in the headers that proxies and frameworks trust.
fn mutate_host(v: &Variant, which: usize) -> Option<Variant> {
    let mut out = v.clone().then(&format!("host#{which}"));
    let other = if v.host.starts_with("acme") { "globex.example.test" } else { "initech.example.test" };
    match which {
        0 => out.set_header("X-Forwarded-Host", other),
        1 => out.set_header("X_Forwarded_Host", other),
        2 => out.set_header("Forwarded", &format!("for=10.0.0.1;host={other};proto=https")),
        3 => out.set_header("X-Original-Host", other),
        4 => out.set_header("X-Forwarded-Host", &format!("{other}, {}", v.host)),
        5 => {
            out.set_header("X-Forwarded-Host", other);
            out.set_header("X-Forwarded-Server", other);
        }
        _ => return None,
    }
    Some(out)
}

/// Adds a member whose name folds onto a governed one, carrying a forbidden value.
fn mutate_member(v: &Variant, which: usize) -> Option<Variant> {
    if !v.body.starts_with(b"{") {
        return None;
    }
    let (name, value) = match which {
        0 => ("THIRD_PARTY_SECURITY_MODE", "\"permissive\""),
        1 => ("thirdPartySecurityMode", "\"permissive\""),
        2 => ("Is_First_Party", "false"),
        3 => ("\u{17F}so", "true"),
        4 => ("s\u{200B}so", "true"),
        5 => ("\u{FF53}\u{FF53}\u{FF4F}", "true"),
        6 => ("__proto__", r#"{"is_first_party":false,"third_party_security_mode":"permissive","sso":true}"#),
        7 => ("constructor", r#"{"prototype":{"is_first_party":false}}"#),
        8 => ("sso", "\"true\""),
        9 => ("is_first_party", "\"false\""),
        10 => ("jwt_configuration", r#"{"ALG":"HS256"}"#),
        11 => ("dynamic_client_registration_security_mode\u{E0020}", "\"permissive\""),
        12 => ("grant_types", "\"client_credentials\""),
        13 => ("Default_For", "\"third_party_clients\""),
        _ => return None,
    };
    let mut out = v.clone().then(&format!("member({})", name.escape_debug()));
    out.add_member(name, value);
    Some(out)
}

/// Query parameters that query+body merging frameworks read as members.
fn mutate_query(v: &Variant, which: usize) -> Option<Variant> {
    let query = match which {
        0 => "is_first_party=false&third_party_security_mode=permissive",
        1 => "sso=true",
        2 => "third_party_security_mode=permissive",
        3 => "dynamic_client_registration_security_mode=permissive",
        4 => "default_for=third_party_clients&audience=https%3A%2F%2Fglobex.example.test%2Fapi%2Fv2%2F",
        _ => return None,
    };
    let mut out = v.clone().then(&format!("query({query})"));
    out.add_query(query);
    Some(out)
}

fn mutate_hop(v: &Variant, which: usize) -> Option<Variant> {
    let nominated = ["Content-Type", "Content-Length", "Authorization", "X-Forwarded-Host", "Host"].get(which)?;
    let mut out = v.clone().then(&format!("connection({nominated})"));
    out.set_header("Connection", nominated);
    Some(out)
}

/// Framing and media-type games: bodies on GET, another content type, lower-case methods.
fn mutate_body_framing(v: &Variant, which: usize) -> Option<Variant> {
    let mut out = v.clone().then(&format!("framing#{which}"));
    match which {
        0 => out.method = "GET".into(),
        1 => out.method = "DELETE".into(),
        2 => out.set_header("Content-Type", "text/plain"),
        3 => out.set_header("Content-Type", "application/json; charset=utf-16"),
        4 => out.method = out.method.to_lowercase(),
        5 => out.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type")),
        _ => return None,
    }
    Some(out)
}

/// A small deterministic generator (xorshift64*), so that a failing combination can be
/// replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        usize::try_from(x >> 33).unwrap_or(0) % n.max(1)
    }
}

/// Every base, every single mutation of every base, then `combinations` random chains of
/// two or three mutations from `seed`.
pub fn generate(seed: u64, combinations: usize) -> Vec<Variant> {
    let bases = bases();
    let mut out = bases.clone();
    for base in &bases {
        for (_, mutate, spellings) in MUTATIONS {
            out.extend((0..*spellings).filter_map(|which| mutate(base, which)));
        }
    }
    let mut rng = Rng::new(seed);
    let mut made = 0;
    while made < combinations {
        let mut variant = bases[rng.below(bases.len())].clone();
        let steps = 2 + rng.below(2);
        for _ in 0..steps {
            let (_, mutate, spellings) = MUTATIONS[rng.below(MUTATIONS.len())];
            if let Some(next) = mutate(&variant, rng.below(spellings)) {
                variant = next;
            }
        }
        out.push(variant);
        made += 1;
    }
    out
}
