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

use std::collections::BTreeMap;

use base64::Engine;
use percent_encoding::percent_decode;

use super::body::parse_object;
use super::client::ClientState;
use super::decision::Rejection;
use super::fold::skeleton;
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

/// [`READ_PARAMETERS`] folded ([`skeleton`]), in the same order (a unit test checks it).
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

/// One runtime request, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeRequest {
    /// Every parameter, from the query and the body, each once.
    pub params: BTreeMap<String, String>,
    /// The client the request speaks for, when it names one.
    pub client_id: Option<String>,
    /// The client authenticates: a secret, HTTP Basic or an assertion.
    pub authenticated: bool,
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
/// (dots read as `_`) onto one the rules read must be that name exactly.
fn check_name(name: &str) -> Result<String, Rejection> {
    if name.contains(['[', ']']) {
        return Err(invalid(
            ReasonCode::DuplicateParameter,
            format!(
                "the parameter name `{name}` holds brackets, which some servers read as a structure; send plain names"
            ),
        ));
    }
    let key = if name.contains('.') { skeleton(&name.replace('.', "_")) } else { skeleton(name) };
    let exact = READ_SKELETONS.iter().zip(READ_PARAMETERS).find(|(folded, _)| **folded == key).map(|(_, read)| read);
    if exact.is_some_and(|read| read != name) {
        return Err(invalid(
            ReasonCode::DuplicateParameter,
            format!("the parameter `{name}` reads as a different parameter to some servers; spell it exactly"),
        ));
    }
    Ok(key)
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

/// Reads `body` (possibly empty) with `head` into one request.
pub fn read(route: RouteId, head: &RuntimeHead, body: &[u8]) -> Result<RuntimeRequest, Rejection> {
    if let Some(why) = head.ambiguous {
        return Err(invalid(ReasonCode::AmbiguousClientId, why));
    }
    let mut request = RuntimeRequest::default();
    // (folded name, name as sent): a handful per request, searched in order
    let mut folded: Vec<(String, String)> = Vec::new();
    let mut add = |name: String, value: String| -> Result<(), Rejection> {
        let key = check_name(&name)?;
        if let Some((_, first)) = folded.iter().find(|(seen, _)| *seen == key) {
            return Err(invalid(
                ReasonCode::DuplicateParameter,
                format!("the parameter `{name}` is given twice (as `{first}` too); send each parameter once"),
            ));
        }
        folded.push((key, name.clone()));
        request.params.insert(name, value);
        Ok(())
    };
    if let Some(query) = &head.query {
        for (name, value) in form_pairs(query)? {
            add(name, value)?;
        }
    }
    if !body.is_empty() {
        if head.json_body && matches!(route, RouteId::Token | RouteId::Legacy) {
            let object = parse_object(body).map_err(|e| invalid(ReasonCode::InvalidJson, e.to_string()))?;
            check_json_names(&serde_json::Value::Object(object.members.clone()))?;
            for (name, value) in object.members {
                check_name(&name)?;
                match value {
                    serde_json::Value::String(text) => add(name, text)?,
                    _ if READ_PARAMETERS.contains(&name.as_str()) => {
                        return Err(invalid(ReasonCode::InvalidType, format!("`{name}` must be a string")));
                    }
                    // other members are the endpoint's business
                    _ => {}
                }
            }
        } else {
            for (name, value) in form_pairs(body)? {
                add(name, value)?;
            }
        }
    }
    let mut named: Vec<String> = Vec::new();
    if let Some(id) = request.params.get("client_id") {
        named.push(id.clone());
    }
    if let Some((user, secret)) = basic_user(head.authorization.as_deref())? {
        named.push(user);
        request.authenticated |= !secret.trim().is_empty();
    }
    if let Some(assertion) = request.params.get("client_assertion") {
        named.push(assertion_issuer(assertion)?);
        request.authenticated = true;
    }
    if request.params.get("client_secret").is_some_and(|secret| !secret.trim().is_empty()) {
        request.authenticated = true;
    }
    if route == RouteId::Legacy {
        // WS-Federation names the client by its realm; a logout by its ID token's audience
        if let Some(realm) = request.params.get("wtrealm") {
            named.push(realm.clone());
        }
        if let Some(hint) = request.params.get("id_token_hint") {
            named.extend(token_audiences(hint)?);
        }
    }
    if let Some(id) = &head.path_client_id {
        named.push(id.clone());
    }
    request.client_id = match named.as_slice() {
        [] => None,
        [first, ..] if named.iter().all(|id| id == first) => Some(first.clone()),
        _ => {
            return Err(invalid(
                ReasonCode::ConflictingClientIds,
                "the request names two different clients (parameter, Basic user, assertion or path); name one",
            ));
        }
    };
    Ok(request)
}

/// `application/x-www-form-urlencoded` pairs as WHATWG reads them (`+` is a space, empty
/// sequences skipped), except that a value that is not UTF-8 once decoded is refused
/// rather than read with replacement characters.
pub fn form_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, Rejection> {
    let decode = |part: &[u8]| -> Result<String, Rejection> {
        let not_utf8 = || invalid(ReasonCode::InvalidParameter, "a parameter is not UTF-8 once decoded");
        if !part.iter().any(|b| *b == b'+' || *b == b'%') {
            // the common case: nothing to decode, one allocation
            return std::str::from_utf8(part).map(str::to_owned).map_err(|_| not_utf8());
        }
        let spaced: Vec<u8> = part.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        let bytes: Vec<u8> = percent_decode(&spaced).collect();
        String::from_utf8(bytes).map_err(|_| not_utf8())
    };
    if raw.contains(&b';') {
        // Rack 2, Go before 1.17 and Python before 3.9.2 also split on `;`
        return Err(invalid(
            ReasonCode::InvalidParameter,
            "a `;` in the parameters, which some servers read as a separator; encode it as %3B",
        ));
    }
    let mut pairs = Vec::new();
    for sequence in raw.split(|b| *b == b'&') {
        if sequence.is_empty() {
            continue;
        }
        let (name, value) = match sequence.iter().position(|b| *b == b'=') {
            Some(at) => (sequence.get(..at).unwrap_or_default(), sequence.get(at + 1..).unwrap_or_default()),
            None => (sequence, &[][..]),
        };
        let name = decode(name)?;
        if name.contains('\0') {
            return Err(invalid(ReasonCode::InvalidParameter, "a parameter name holds a NUL"));
        }
        pairs.push((name, decode(value)?));
    }
    Ok(pairs)
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
    let pairs = form_pairs(format!("u={raw_user}").as_bytes())?;
    let user = pairs.into_iter().next().map(|(_, value)| value).unwrap_or_default();
    if user != raw_user {
        return Err(invalid(
            ReasonCode::AmbiguousClientId,
            "the Basic user name is form-encoded, which servers read differently; send the client id as it is",
        ));
    }
    Ok(Some((user, secret.to_owned())))
}

/// The `iss` of a `client_assertion` JWT, read without verifying it.
fn assertion_issuer(assertion: &str) -> Result<String, Rejection> {
    let unreadable = || invalid(ReasonCode::InvalidParameter, "the client_assertion is not a JWT naming its `iss`");
    let payload = assertion.split('.').nth(1).ok_or_else(unreadable)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| unreadable())?;
    // strict: a duplicated or case-varied `iss`/`sub` is read differently by other parsers
    let claims = parse_object(&bytes).map_err(|_| unreadable())?;
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

/// The audiences of an `id_token_hint` (the client a logout speaks for), read unverified
/// but strictly: a hint the gateway cannot read one way only is refused.
fn token_audiences(token: &str) -> Result<Vec<String>, Rejection> {
    let unreadable = || invalid(ReasonCode::InvalidParameter, "the id_token_hint is not a JWT naming its audience");
    let payload = token.split('.').nth(1).ok_or_else(unreadable)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| unreadable())?;
    let claims = parse_object(&bytes).map_err(|_| unreadable())?;
    match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(serde_json::Value::Array(auds)) => {
            auds.iter().map(|a| a.as_str().map(str::to_owned).ok_or_else(unreadable)).collect()
        }
        _ => Err(unreadable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(read("client_id=a+b%20c&x=").map(|r| r.client_id), Ok(Some("a b c".to_owned())));
        assert_eq!(read("client_id=a&&&scope=x").map(|r| r.params.len()), Ok(2), "empty sequences skipped");
        assert_eq!(read("client_id=a&client_id=a"), Err("duplicate_parameter"));
        assert_eq!(read("client_id=a&Client_Id=b"), Err("duplicate_parameter"));
        assert_eq!(read("client-id=a"), Err("duplicate_parameter"), "folds onto client_id");
        assert_eq!(read("client%5Fid=a").map(|r| r.client_id), Ok(Some("a".to_owned())), "decoded name");
        assert_eq!(read("client_id=%FF"), Err("invalid_parameter"), "not UTF-8 once decoded");
        assert_eq!(read("client_id%00=a"), Err("invalid_parameter"));
        let both = RuntimeHead { query: Some(b"client_id=a".to_vec()), ..RuntimeHead::default() };
        assert_eq!(read_err(RouteId::Authorize, &both, b"client_id=b"), Some("duplicate_parameter"));
        let basic = RuntimeHead { authorization: Some(b"Basic Yjpz".to_vec()), ..RuntimeHead::default() };
        assert_eq!(read_err(RouteId::Token, &basic, b"client_id=a"), Some("conflicting_client_ids"));
        let same = super::read(RouteId::Token, &basic, b"client_id=b").map(|r| (r.client_id, r.authenticated));
        assert_eq!(same, Ok((Some("b".to_owned()), true)));
    }

    fn read_err(route: RouteId, head: &RuntimeHead, body: &[u8]) -> Option<&'static str> {
        super::read(route, head, body).err().map(|r| r.reason.as_str())
    }
}
