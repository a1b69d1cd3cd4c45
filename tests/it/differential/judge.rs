//! The judge: an upstream's reading of a forwarded request, put back through the policy
//! core as the request that upstream believes it got. The reading is a violation when
//! the policy would not have forwarded that request unchanged: it refuses it, or it would
//! have injected something the upstream did not get.

use std::sync::Arc;

use http::HeaderMap;
use modegate::config::Config;
use modegate::policy::{self, ClientState, CurrentClient, RequestHead, Step};
use serde_json::Value;

/// What one upstream understood, as its reader reports it.
#[derive(Debug, Clone)]
pub struct Reading {
    pub reader: String,
    pub method: String,
    pub path: String,
    pub host: String,
    pub members: serde_json::Map<String, Value>,
}

impl Reading {
    pub fn parse(body: &[u8]) -> Option<Reading> {
        let value: Value = serde_json::from_slice(body).ok()?;
        Some(Reading {
            reader: value.get("reader")?.as_str()?.to_owned(),
            method: value.get("method")?.as_str()?.to_owned(),
            path: value.get("path")?.as_str()?.to_owned(),
            host: value.get("host").and_then(Value::as_str).unwrap_or_default().to_owned(),
            members: value.get("members").and_then(Value::as_object).cloned().unwrap_or_default(),
        })
    }
}

/// `Some(why)` when the reading is a change the policy forbids.
pub fn violation(reading: &Reading, config: &Config) -> Option<String> {
    // the reader's path is decoded: re-encode what would otherwise be decoded twice, and read
    // `\` as `/` and drop `;` parameters as lenient routers do, rather than skip such paths
    let lenient: Vec<&str> = reading.path.split(['/', '\\']).map(|s| s.split(';').next().unwrap_or_default()).collect();
    let path = lenient.join("/").replace('%', "%25").replace('?', "%3F").replace('#', "%23");
    let Ok(clean) = policy::route::normalise(&path) else {
        // control characters or the like: no route of the policy's reads like this
        return None;
    };
    let mut headers = HeaderMap::new();
    if let Ok(host) = reading.host.parse() {
        headers.insert(http::header::HOST, host);
    }
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    let method = reading.method.to_ascii_uppercase();
    let head = RequestHead {
        method: &method,
        target: clean.as_bytes(),
        authority: None,
        headers: &headers,
        version: http::Version::HTTP_11,
        body_follows: false,
    };
    let body = Value::Object(reading.members.clone()).to_string();
    let current =
        policy::route::client_id(&clean).and_then(|id| ClientState::from_client_id(&id)).map(CurrentClient::of_state);
    let today = time::OffsetDateTime::now_utc().date();
    let tenants = |host: &str| config.tenants.by_host(host).map(|t| Arc::clone(&t.policy));
    let evaluation = policy::evaluate(&head, body.as_bytes(), Arc::clone(&config.policy), tenants, today, current);
    let what = format!("{} read `{method} {clean}` on `{}` with {body}", reading.reader, reading.host);
    match evaluation.end {
        Step::Respond { rejection, .. } => {
            Some(format!("{what}: the policy refuses it ({})", rejection.reason.as_str()))
        }
        Step::Forward { record: Some(record), .. } if !record.injected.is_empty() => {
            Some(format!("{what}: the policy would have injected {:?}", record.injected))
        }
        _ => None,
    }
}
