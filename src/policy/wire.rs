//! Gateway-made answers in the upstream's own dialects (SPEC §7): the Management API's
//! `{"statusCode","error","message","errorCode"}` and RFC 7591's
//! `{"error","error_description"}`. Pure: the proxy writes what this returns.

use serde_json::json;

use super::{Api, ErrorCode, Rejection};

/// `Content-Type` of every gateway-made answer.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// The header naming the reason code on every gateway-made answer.
pub const REASON_HEADER: &str = "x-modegate-reason";

/// `Content-Type` of the HTML page `/authorize` answers with (SPEC §13).
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// A rendered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    pub status: u16,
    pub content_type: &'static str,
    /// `no-store` on the OAuth endpoints (RFC 6749 §5.1).
    pub cache_control: Option<&'static str>,
    pub body: Vec<u8>,
    /// `WWW-Authenticate`, on 401s.
    pub www_authenticate: Option<&'static str>,
    /// `Retry-After`, in seconds, on 429s.
    pub retry_after: Option<u64>,
    pub reason: &'static str,
}

impl ErrorCode {
    /// The Management API `errorCode`.
    pub fn management_code(self) -> &'static str {
        match self {
            ErrorCode::InvalidBody | ErrorCode::InvalidClientMetadata | ErrorCode::InvalidRedirectUri => "invalid_body",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::UnknownTenant => "unknown_tenant",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::PolicyUnavailable => "policy_unavailable",
            ErrorCode::PolicyInvalid => "policy_invalid",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Internal => "internal_error",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::InvalidScope => "invalid_scope",
        }
    }

    /// The RFC 7591 (or, for errors that RFC has no word for, RFC 6749) `error`.
    pub fn dcr_code(self) -> &'static str {
        match self {
            ErrorCode::InvalidBody | ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidRequest
            | ErrorCode::PayloadTooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::RequestTimeout => "invalid_request",
            ErrorCode::UnknownTenant => "invalid_request",
            ErrorCode::PolicyUnavailable | ErrorCode::UpstreamTimeout => "temporarily_unavailable",
            ErrorCode::UpstreamUnavailable | ErrorCode::Internal | ErrorCode::PolicyInvalid => "server_error",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::InvalidScope => "invalid_scope",
        }
    }
}

/// Renders `rejection` for a route of `api`.
pub fn render(rejection: &Rejection, api: Api) -> GatewayResponse {
    let oauth = || {
        json!({
            "error": rejection.code.dcr_code(),
            "error_description": rejection.message,
        })
    };
    let (content_type, cache_control, body) = match api {
        Api::Management => (
            CONTENT_TYPE,
            None,
            json!({
                "statusCode": rejection.status,
                "error": reason_phrase(rejection.status),
                "message": rejection.message,
                "errorCode": rejection.code.management_code(),
            }),
        ),
        Api::Dcr => (CONTENT_TYPE, None, oauth()),
        Api::OAuth | Api::Authorize { json: true } => (CONTENT_TYPE, Some("no-store"), oauth()),
        Api::Authorize { json: false } => {
            return GatewayResponse {
                status: rejection.status,
                content_type: HTML_CONTENT_TYPE,
                cache_control: Some("no-store"),
                body: error_page(rejection).into_bytes(),
                www_authenticate: None,
                retry_after: rejection.retry_after,
                reason: rejection.reason.as_str(),
            };
        }
    };
    GatewayResponse {
        status: rejection.status,
        content_type,
        cache_control,
        // serialising a `json!` value cannot fail
        body: serde_json::to_vec(&body).unwrap_or_default(),
        www_authenticate: (rejection.status == 401).then_some("Bearer error=\"invalid_token\""),
        retry_after: rejection.retry_after,
        reason: rejection.reason.as_str(),
    }
}

/// The page `/authorize` answers with: the problem named, no redirect, nothing to run.
fn error_page(rejection: &Rejection) -> String {
    let escape = |text: &str| {
        text.chars().fold(String::new(), |mut out, c| {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
            out
        })
    };
    let code = rejection.code.dcr_code();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code}</title></head>\n\
         <body><h1>This sign-in request was refused</h1>\n<p>{}</p>\n<p>error: <code>{code}</code></p></body></html>\n",
        escape(&rejection.message)
    )
}

fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ReasonCode;

    #[test]
    fn management_shape() {
        let rejection = Rejection::invalid_body(ReasonCode::StrictProfile, "`sso` is not available");
        let answer = render(&rejection, Api::Management);
        assert_eq!(
            String::from_utf8(answer.body).unwrap(),
            r#"{"statusCode":400,"error":"Bad Request","message":"`sso` is not available","errorCode":"invalid_body"}"#
        );
        assert_eq!(answer.reason, "strict_profile");
        assert_eq!(answer.www_authenticate, None);
    }

    #[test]
    fn dcr_shape() {
        let rejection = Rejection::new(403, ErrorCode::AccessDenied, ReasonCode::StrictDcrWithoutDefaults, "closed");
        let answer = render(&rejection, Api::Dcr);
        assert_eq!(
            String::from_utf8(answer.body).unwrap(),
            r#"{"error":"access_denied","error_description":"closed"}"#
        );
        assert_eq!(answer.status, 403);
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let rejection = Rejection::new(401, ErrorCode::InvalidToken, ReasonCode::TokenRequired, "token");
        assert_eq!(render(&rejection, Api::Dcr).www_authenticate, Some("Bearer error=\"invalid_token\""));
    }
}
