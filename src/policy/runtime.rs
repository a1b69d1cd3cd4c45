//! Reading a request to the authorization endpoints (SPEC §13): its parameters, one
//! reading only, and the client it speaks for.
//!
//! Parameters come from the query and from a form body (decoded as WHATWG
//! `application/x-www-form-urlencoded` does, which is how Node, Express, Rack, werkzeug and
//! Go read it), or from a JSON body on `/oauth/token` and the legacy routes (read as
//! strictly as SPEC §3 reads the Management API's). A parameter given twice
//! anywhere, in any case or spelling that folds onto one name, is refused: servers differ on
//! whether the first or the last wins (RFC 6749 §3.1 forbids repeats). The client is named
//! by `client_id`, the HTTP Basic user name, the `iss` of a `client_assertion` (read, not
//! verified: the upstream verifies it) or a path segment; two different names are refused.

use std::borrow::Cow;

use base64::Engine;

use super::body::parse_object;
use super::client::ClientState;
use super::decision::Rejection;
use super::fold::skeleton_into;
use super::reason::ReasonCode;
use super::route_id::RouteId;

/// The parameters whose spelling must be exact: the ones the rules and the identification
/// read. A name that folds onto one of them (`Client_ID`, `client-id`, `ＧＲＡＮＴ_type`)
/// is read as it by some servers and not by others.
pub const READ_PARAMETERS: [&str; 10] = [
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "grant_type",
    "code_verifier",
    "response_type",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

/// [`READ_PARAMETERS`] folded ([`skeleton`](super::fold::skeleton)), in the same order (a unit test checks it).
const READ_SKELETONS: [&str; 10] = [
    "clientid",
    "clientsecret",
    "clientassertion",
    "clientassertiontype",
    "granttype",
    "codeverifier",
    "responsetype",
    "scope",
    "codechallenge",
    "codechallengemethod",
];

/// What the gateway knows of a client on a runtime route (SPEC §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeClient {
    pub state: ClientState,
    /// Created through DCR (the registry's origin): no `client_credentials` when strict.
    pub dcr: bool,
}

/// One runtime request, read (the client it names is returned beside it by [`read`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeRequest {
    /// Every parameter, from the query and the body, each once.
    pub params: Params,
    /// The client authenticates: a secret, HTTP Basic or an assertion.
    pub authenticated: bool,
}

/// The parameters of one request, in the order sent, each once. Names and values are
/// decoded into one buffer and the folded names into another: a request of ten parameters
/// costs three allocations, not thirty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    text: String,
    /// Each parameter's folded name ([`skeleton`](super::fold::skeleton)), end to end.
    folded: String,
    spans: Vec<Span>,
}

/// One parameter: its name is `text[name..value]`, its value `text[value..end]`, its folded
/// name `folded[previous.folded_end..folded_end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    name: usize,
    value: usize,
    end: usize,
    folded_end: usize,
}

impl Params {
    /// The value of the parameter named exactly `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(sent, _)| *sent == name).map(|(_, value)| value)
    }

    /// `(name, value)` in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|span| {
            (
                self.text.get(span.name..span.value).unwrap_or_default(),
                self.text.get(span.value..span.end).unwrap_or_default(),
            )
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(name, _)| name)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// The most parameters a runtime request may carry. OAuth requests send a dozen or two;
/// the cap bounds the duplicate check (each name against every earlier one).
pub const MAX_PARAMETERS: usize = 128;

/// The most of a name an error message repeats.
const NAME_SHOWN: usize = 64;

/// `name`, cut to [`NAME_SHOWN`] characters for a message.
fn shown(name: &str) -> &str {
    name.char_indices().nth(NAME_SHOWN).map_or(name, |(at, _)| name.get(..at).unwrap_or(name))
}

/// Reads parameters into [`Params`], refusing a second reading of any name.
#[derive(Default)]
struct ParamReader {
    params: Params,
    /// Percent-decoding space, reused.
    scratch: Vec<u8>,
}

impl ParamReader {
    /// SPEC §13: `&`-separated `name=value` pairs, decoded as WHATWG
    /// `application/x-www-form-urlencoded` (`+` is a space, empty sequences skipped),
    /// except that a part that is not UTF-8 once decoded is refused rather than read with
    /// replacement characters.
    fn form(&mut self, raw: &[u8]) -> Result<(), Rejection> {
        if raw.contains(&b';') {
            // Rack 2, Go before 1.17 and Python before 3.9.2 also split on `;`
            return Err(invalid(
                ReasonCode::InvalidParameter,
                "a `;` in the parameters, which some servers read as a separator; encode it as %3B",
            ));
        }
        // Parameters arrive percent-encoded: raw bytes that are not UTF-8 are refused as a
        // whole (WHATWG would read them with replacement characters), and the parts split
        // from valid text are text
        let raw = std::str::from_utf8(raw).map_err(|_| not_utf8())?;
        self.params.text.reserve(raw.len());
        self.params.folded.reserve(raw.len());
        self.params.spans.reserve(raw.bytes().filter(|b| *b == b'&').count() + 1);
        for sequence in raw.split('&').filter(|sequence| !sequence.is_empty()) {
            let (name, value) = sequence.split_once('=').unwrap_or((sequence, ""));
            let name_start = self.params.text.len();
            decode_into(name, &mut self.params.text, &mut self.scratch)?;
            let value_start = self.params.text.len();
            if self.params.text.get(name_start..).is_some_and(|name| name.contains('\0')) {
                return Err(invalid(ReasonCode::InvalidParameter, "a parameter name holds a NUL"));
            }
            decode_into(value, &mut self.params.text, &mut self.scratch)?;
            self.admit(name_start, value_start)?;
        }
        Ok(())
    }

    /// A parameter given as text (a JSON member).
    fn text(&mut self, name: &str, value: &str) -> Result<(), Rejection> {
        let name_start = self.params.text.len();
        self.params.text.push_str(name);
        let value_start = self.params.text.len();
        self.params.text.push_str(value);
        self.admit(name_start, value_start)
    }

    /// Admits the parameter just appended to `text` unless its name has a second reading
    /// or folds onto one already given.
    fn admit(&mut self, name_start: usize, value_start: usize) -> Result<(), Rejection> {
        let Params { text, folded, spans } = &mut self.params;
        if spans.len() >= MAX_PARAMETERS {
            return Err(invalid(
                ReasonCode::InvalidParameter,
                format!("more than {MAX_PARAMETERS} parameters; send only what the endpoint reads"),
            ));
        }
        let name = text.get(name_start..value_start).unwrap_or_default();
        let key_start = folded.len();
        fold_name(name, folded)?;
        let key = folded.get(key_start..).unwrap_or_default();
        let mut seen_start = 0;
        for span in spans.iter() {
            if folded.get(seen_start..span.folded_end) == Some(key) {
                let first = text.get(span.name..span.value).unwrap_or_default();
                let (name, first) = (shown(name), shown(first));
                return Err(invalid(
                    ReasonCode::DuplicateParameter,
                    format!("the parameter `{name}` is given twice (as `{first}` too); send each parameter once"),
                ));
            }
            seen_start = span.folded_end;
        }
        spans.push(Span { name: name_start, value: value_start, end: text.len(), folded_end: folded.len() });
        Ok(())
    }
}

fn not_utf8() -> Rejection {
    invalid(ReasonCode::InvalidParameter, "a parameter is not UTF-8 once decoded")
}

/// Appends one form-encoded part to `out`, decoded (`+` is a space, `%XX` a byte).
fn decode_into(part: &str, out: &mut String, scratch: &mut Vec<u8>) -> Result<(), Rejection> {
    if !part.bytes().any(|b| b == b'+' || b == b'%') {
        // the common case: nothing to decode
        out.push_str(part);
        return Ok(());
    }
    scratch.clear();
    let mut bytes = part.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => scratch.push(b' '),
            // `%` and two hex digits is a byte. Any other `%` is itself to WHATWG, PHP and
            // Python, but Go drops the whole pair (`code_challenge=%zz…` is no challenge at
            // all there): refused
            b'%' => match (bytes.clone().next().and_then(hex), bytes.clone().nth(1).and_then(hex)) {
                (Some(high), Some(low)) => {
                    scratch.push((high << 4) | low);
                    bytes.nth(1);
                }
                _ => {
                    return Err(invalid(
                        ReasonCode::InvalidParameter,
                        "a `%` that starts no escape, which servers read differently (Go drops the parameter); encode it as %25",
                    ));
                }
            },
            other => scratch.push(other),
        }
    }
    out.push_str(std::str::from_utf8(scratch).map_err(|_| not_utf8())?);
    Ok(())
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|value| u8::try_from(value).ok())
}

/// The parts of the head a runtime request is read from, owned (the pipeline keeps them
/// until the body has arrived).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeHead {
    pub query: Option<Vec<u8>>,
    pub authorization: Option<Vec<u8>>,
    /// The body is JSON (`/oauth/token`, legacy routes), not a form.
    pub json_body: bool,
    /// `/samlp/{client_id}`, `/wsfed/{client_id}`: the client named by the path.
    pub path_client_id: Option<String>,
    /// The head cannot be read one way only: a repeated `Authorization`, or dot or empty
    /// segments after `/samlp/` or `/wsfed/` (a server that resolves them names another
    /// client than the segment the gateway reads).
    pub ambiguous: Option<&'static str>,
}

fn invalid(reason: ReasonCode, message: impl Into<String>) -> Rejection {
    Rejection::invalid_request(reason, message)
}

/// SPEC §16 for parameter names: `client_id[]` is `client_id` to qs (Express), Rack and PHP,
/// `client.id` is `client_id` to PHP; names with brackets are refused, and a name that folds
/// (dots read as `_`) onto one the rules read must be that name exactly. The folded name is
/// appended to `folded`.
fn fold_name(name: &str, folded: &mut String) -> Result<(), Rejection> {
    if name.bytes().any(|b| b == b'[' || b == b']') {
        return Err(invalid(
            ReasonCode::DuplicateParameter,
            format!(
                "the parameter name `{}` holds brackets, which some servers read as a structure; send plain names",
                shown(name)
            ),
        ));
    }
    let start = folded.len();
    if name.contains('.') {
        skeleton_into(&name.replace('.', "_"), folded);
    } else {
        skeleton_into(name, folded);
    }
    let key = folded.get(start..).unwrap_or_default();
    let exact = READ_SKELETONS.iter().zip(READ_PARAMETERS).find(|(read, _)| **read == key).map(|(_, read)| read);
    if exact.is_some_and(|read| read != name) {
        return Err(invalid(
            ReasonCode::DuplicateParameter,
            format!("the parameter `{}` reads as a different parameter to some servers; spell it exactly", shown(name)),
        ));
    }
    Ok(())
}

/// Names JavaScript merges treat as the prototype (SPEC §16), refused at any depth.
const RESERVED: [&str; 3] = ["__proto__", "constructor", "prototype"];

fn check_json_names(value: &serde_json::Value) -> Result<(), Rejection> {
    match value {
        serde_json::Value::Object(members) => {
            for (name, member) in members {
                if RESERVED.contains(&name.as_str()) {
                    return Err(invalid(ReasonCode::ReservedMember, format!("the member name `{name}` is reserved")));
                }
                check_json_names(member)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(check_json_names),
        _ => Ok(()),
    }
}

/// Reads `body` (possibly empty) with `head` into one request and the client it names.
pub fn read(route: RouteId, head: &RuntimeHead, body: &[u8]) -> Result<(RuntimeRequest, Option<String>), Rejection> {
    if let Some(why) = head.ambiguous {
        return Err(invalid(ReasonCode::AmbiguousClientId, why));
    }
    let mut reader = ParamReader::default();
    if let Some(query) = &head.query {
        reader.form(query)?;
    }
    if !body.is_empty() {
        if head.json_body && matches!(route, RouteId::Token | RouteId::Legacy) {
            let object = parse_object(body).map_err(|e| invalid(ReasonCode::InvalidJson, e.to_string()))?;
            check_json_names(&serde_json::Value::Object(object.members.clone()))?;
            let mut scratch = String::new();
            for (name, value) in &object.members {
                match value {
                    serde_json::Value::String(text) => reader.text(name, text)?,
                    _ if READ_PARAMETERS.contains(&name.as_str()) => {
                        return Err(invalid(ReasonCode::InvalidType, format!("`{name}` must be a string")));
                    }
                    // other members are the endpoint's business, but their names have one reading
                    _ => fold_name(name, &mut scratch)?,
                }
            }
        } else {
            reader.form(body)?;
        }
    }
    let params = reader.params;
    let mut authenticated = false;
    let mut named = Named::default();
    if let Some(id) = params.get("client_id") {
        named.push(Cow::Borrowed(id));
    }
    if let Some((user, secret)) = basic_user(head.authorization.as_deref())? {
        named.push(Cow::Owned(user));
        authenticated |= !secret.trim().is_empty();
    }
    if let Some(assertion) = params.get("client_assertion") {
        named.push(Cow::Owned(assertion_issuer(assertion)?));
        authenticated = true;
    }
    if params.get("client_secret").is_some_and(|secret| !secret.trim().is_empty()) {
        authenticated = true;
    }
    // OIDC Core §6.1: a request object travels with the plain `client_id` too; servers that
    // take the client from inside the object would otherwise see one the gateway did not
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        if params.get("client_id").is_none() {
            return Err(invalid(
                ReasonCode::InvalidParameter,
                "a `request` or `request_uri` needs `client_id` beside it (OIDC Core 6.1)",
            ));
        }
        if let Some(inner) = params.get("request").and_then(request_object_client) {
            named.push(Cow::Owned(inner));
        }
    }
    if route == RouteId::Legacy {
        // WS-Federation names the client by its realm; a logout by its ID token's audience
        if let Some(realm) = params.get("wtrealm") {
            named.push(Cow::Borrowed(realm));
        }
        if let Some(hint) = params.get("id_token_hint") {
            token_audiences(hint)?.into_iter().for_each(|aud| named.push(Cow::Owned(aud)));
        }
    }
    if let Some(id) = &head.path_client_id {
        named.push(Cow::Borrowed(id));
    }
    if named.conflict {
        return Err(invalid(
            ReasonCode::ConflictingClientIds,
            "the request names two different clients (parameter, Basic user, assertion or path); name one",
        ));
    }
    if let Some(id) = &named.first
        && !plain_client_id(id)
    {
        return Err(invalid(
            ReasonCode::AmbiguousClientId,
            "the client id holds white space, invisible or compatibility characters, which servers trim or fold onto another id; send it as issued",
        ));
    }
    let client_id = named.first.map(Cow::into_owned);
    Ok((RuntimeRequest { params, authenticated }, client_id))
}

/// A client id that every server reads as itself: printable ASCII only. White space,
/// control and invisible characters are dropped by `trim()` and its kin; full-width and
/// accented letters (`ｔpc_x`, `ťpc_x`) match `tpc_x` under a Unicode- or accent-folding
/// lookup (MySQL's `utf8mb4_0900_ai_ci`); a `%` or `\` is decoded again by some servers,
/// and `..` climbs out when an id is put in a path. Case is left alone: ids are
/// case-sensitive, and the `tpc_` prefix is read in any case (see `ClientState`). A WS-Fed
/// realm that is a URL stays readable.
fn plain_client_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic() && b != b'%' && b != b'\\') && !id.contains("..")
}

/// The names a request gives its client: one, or a conflict.
#[derive(Default)]
struct Named<'a> {
    first: Option<Cow<'a, str>>,
    conflict: bool,
}

impl<'a> Named<'a> {
    fn push(&mut self, name: Cow<'a, str>) {
        match &self.first {
            None => self.first = Some(name),
            Some(first) => self.conflict |= *first != name,
        }
    }
}

/// The client id of an HTTP Basic `Authorization` (RFC 6749 §2.3.1: form-encoded, then
/// Base64). A user name that reads differently with and without the form decoding is
/// refused: some servers decode it, some do not.
fn basic_user(authorization: Option<&[u8]>) -> Result<Option<(String, String)>, Rejection> {
    let Some(value) = authorization else { return Ok(None) };
    let unreadable = || invalid(ReasonCode::InvalidParameter, "the Authorization header cannot be read one way only");
    let text = std::str::from_utf8(value).map_err(|_| unreadable())?.trim_matches(|c: char| c == ' ' || c == '\t');
    if text.is_empty() {
        return Ok(None);
    }
    // one space between scheme and credentials, as RFC 9110 writes it: a tab or a run of
    // spaces splits differently in different servers
    let Some((scheme, credentials)) = text.split_once(' ') else {
        return if text.contains('\t') { Err(unreadable()) } else { Ok(None) };
    };
    if scheme.contains('\t') || credentials.starts_with([' ', '\t']) {
        return Err(unreadable());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || invalid(ReasonCode::InvalidParameter, "the Basic credentials are not Base64 of `id:secret`");
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (raw_user, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    if raw_user.contains(['&', ';']) {
        // a server that reads the user name as form data splits it there
        return Err(invalid(
            ReasonCode::AmbiguousClientId,
            "the Basic user name holds `&` or `;`, which servers read differently; send the client id as it is",
        ));
    }
    let mut user = String::new();
    decode_into(raw_user, &mut user, &mut Vec::new())?;
    if user != raw_user {
        return Err(invalid(
            ReasonCode::AmbiguousClientId,
            "the Basic user name is form-encoded, which servers read differently; send the client id as it is",
        ));
    }
    Ok(Some((user, secret.to_owned())))
}

/// The claims of a compact JWT (its second part, base64url), read without verifying it
/// and as strictly as request bodies (duplicate members refused); `None` when unreadable.
fn unverified_claims(token: &str) -> Option<super::body::JsonObject> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    parse_object(&bytes).ok()
}

/// The `iss` of a `client_assertion` JWT, read without verifying it.
fn assertion_issuer(assertion: &str) -> Result<String, Rejection> {
    let unreadable = || invalid(ReasonCode::InvalidParameter, "the client_assertion is not a JWT naming its `iss`");
    // strict: a duplicated or case-varied `iss`/`sub` is read differently by other parsers
    let claims = unverified_claims(assertion).ok_or_else(unreadable)?;
    let folded: Vec<String> = claims.members.keys().map(|k| k.to_ascii_lowercase()).collect();
    if folded.iter().filter(|k| *k == "iss" || *k == "sub").count()
        != claims.members.keys().filter(|k| *k == "iss" || *k == "sub").count()
    {
        return Err(unreadable());
    }
    let iss = claims.get("iss").and_then(|v| v.as_str()).ok_or_else(unreadable)?;
    match claims.get("sub") {
        None => Ok(iss.to_owned()),
        // RFC 7523 §3: both name the client; some servers read one, some the other
        Some(serde_json::Value::String(sub)) if sub == iss => Ok(iss.to_owned()),
        Some(serde_json::Value::String(_)) => Err(invalid(
            ReasonCode::ConflictingClientIds,
            "the client_assertion's `iss` and `sub` name different clients",
        )),
        Some(_) => Err(unreadable()),
    }
}

/// The `client_id` inside a signed request object, read without verifying it (the upstream
/// does); `None` when the object is encrypted, unreadable or names none.
fn request_object_client(object: &str) -> Option<String> {
    unverified_claims(object)?.get("client_id").and_then(|v| v.as_str()).map(str::to_owned)
}

/// The audiences of an `id_token_hint` (the client a logout speaks for), read unverified
/// but strictly: a hint the gateway cannot read one way only is refused.
fn token_audiences(token: &str) -> Result<Vec<String>, Rejection> {
    let unreadable = || invalid(ReasonCode::InvalidParameter, "the id_token_hint is not a JWT naming its audience");
    let claims = unverified_claims(token).ok_or_else(unreadable)?;
    let mut names: Vec<String> = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => vec![aud.clone()],
        Some(serde_json::Value::Array(auds)) if !auds.is_empty() => {
            auds.iter().map(|a| a.as_str().map(str::to_owned).ok_or_else(unreadable)).collect::<Result<_, _>>()?
        }
        _ => return Err(unreadable()),
    };
    // OIDC: `azp` is the party the token was issued to; servers that read it name that client
    match claims.get("azp") {
        None => {}
        Some(serde_json::Value::String(azp)) => names.push(azp.clone()),
        Some(_) => return Err(unreadable()),
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fold::skeleton;

    #[test]
    fn read_skeletons_are_the_folded_names() {
        for (read, folded) in READ_PARAMETERS.iter().zip(READ_SKELETONS) {
            assert_eq!(skeleton(read), folded);
        }
    }

    fn query(text: &str) -> RuntimeHead {
        RuntimeHead { query: Some(text.as_bytes().to_vec()), ..RuntimeHead::default() }
    }

    #[test]
    fn parameters_have_one_reading() {
        let read = |q: &str| super::read(RouteId::Authorize, &query(q), b"").map_err(|r| r.reason.as_str());
        assert_eq!(read("client_id=a%62c&x=").map(|(_, id)| id), Ok(Some("abc".to_owned())));
        assert_eq!(read("client_id=a&&&scope=x").map(|(r, _)| r.params.len()), Ok(2), "empty sequences skipped");
        assert_eq!(read("client_id=a&client_id=a"), Err("duplicate_parameter"));
        assert_eq!(read("client_id=a&Client_Id=b"), Err("duplicate_parameter"));
        assert_eq!(read("client-id=a"), Err("duplicate_parameter"), "folds onto client_id");
        assert_eq!(read("client%5Fid=a").map(|(_, id)| id), Ok(Some("a".to_owned())), "decoded name");
        assert_eq!(read("client_id=%FF"), Err("invalid_parameter"), "not UTF-8 once decoded");
        assert_eq!(read("client_id%00=a"), Err("invalid_parameter"));
        // `%` without two hex digits: itself to WHATWG, the pair dropped by Go; `%2B` is a
        // plus, `+` a space
        let state = |q: &str| {
            super::read(RouteId::Authorize, &query(q), b"").map(|(r, _)| r.params.get("state").map(str::to_owned))
        };
        for odd in ["state=%", "state=%4", "state=%zz%41", "st%ate=1"] {
            assert_eq!(read(odd).map(|_| ()), Err("invalid_parameter"), "{odd}");
        }
        // client ids that a trimming or folding server reads as another
        for id in [
            "%20tpc_x",
            "tpc_x+",
            "%09tpc_x",
            "%C2%A0tpc_x",
            "%EF%BB%BFtpc_x",
            "%EF%BD%94pc_x",
            "tpc%EF%BC%BFx",
            "%C5%A5pc_x",  // ť: an accent-insensitive collation reads tpc_x
            "%CC%81tpc_x", // a leading combining mark
            "%2574pc_x",   // `%74pc_x`: decoded again, tpc_x
            "..%2Ftpc_x",  // `../tpc_x` in a path
            "%5Ctpc_x",
        ] {
            assert_eq!(read(&format!("client_id={id}")).map(|_| ()), Err("ambiguous_client_id"), "{id}");
        }
        assert_eq!(state("state=%2B+%2b"), Ok(Some("+ +".to_owned())));
        assert_eq!(state("state=%C3%A9"), Ok(Some("é".to_owned())));
        assert_eq!(state("state"), Ok(Some(String::new())));
        let raw = RuntimeHead { query: Some(b"state=\xC3%A9".to_vec()), ..RuntimeHead::default() };
        assert_eq!(read_err(RouteId::Authorize, &raw, b""), Some("invalid_parameter"), "raw bytes that are not UTF-8");
        assert_eq!(read("a=1&b=2&A=3"), Err("duplicate_parameter"), "a later name folds onto an earlier one");
        assert_eq!(read("a=1&bc=2&BC=3"), Err("duplicate_parameter"), "onto one in the middle");
        assert_eq!(read("ab=1&c=2&d=3&C=4"), Err("duplicate_parameter"), "past a longer one");
        let many: Vec<String> = (0..=MAX_PARAMETERS).map(|n| format!("p{n}=1")).collect();
        assert_eq!(read(&many.join("&")), Err("invalid_parameter"), "more than the cap");
        assert!(read(&many[..MAX_PARAMETERS].join("&")).is_ok(), "the cap itself");
        // request objects: the plain client_id is required, and the one inside must agree
        let object = |client: &str| {
            let part = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
            format!("{}.{}.sig", part(r#"{"alg":"RS256"}"#), part(&format!(r#"{{"client_id":"{client}"}}"#)))
        };
        assert_eq!(read(&format!("request={}", object("tpc_x"))).map(|_| ()), Err("invalid_parameter"));
        assert_eq!(read("request_uri=urn%3Ax").map(|_| ()), Err("invalid_parameter"));
        let conflicting = format!("client_id=perm&request={}", object("tpc_x"));
        assert_eq!(read(&conflicting).map(|_| ()), Err("conflicting_client_ids"));
        let agreeing = format!("client_id=tpc_x&request={}", object("tpc_x"));
        assert_eq!(read(&agreeing).map(|(_, id)| id), Ok(Some("tpc_x".to_owned())));
        for user in ["a&b", "a;b"] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:s"));
            let basic =
                RuntimeHead { authorization: Some(format!("Basic {encoded}").into_bytes()), ..RuntimeHead::default() };
            assert_eq!(read_err(RouteId::Token, &basic, b""), Some("ambiguous_client_id"), "{user}");
        }
        let both = RuntimeHead { query: Some(b"client_id=a".to_vec()), ..RuntimeHead::default() };
        assert_eq!(read_err(RouteId::Authorize, &both, b"client_id=b"), Some("duplicate_parameter"));
        let basic = RuntimeHead { authorization: Some(b"Basic Yjpz".to_vec()), ..RuntimeHead::default() };
        assert_eq!(read_err(RouteId::Token, &basic, b"client_id=a"), Some("conflicting_client_ids"));
        let same = super::read(RouteId::Token, &basic, b"client_id=b").map(|(r, id)| (id, r.authenticated));
        assert_eq!(same, Ok((Some("b".to_owned()), true)));
    }

    fn read_err(route: RouteId, head: &RuntimeHead, body: &[u8]) -> Option<&'static str> {
        super::read(route, head, body).err().map(|r| r.reason.as_str())
    }
}
