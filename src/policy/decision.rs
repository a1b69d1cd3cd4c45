//! What the policy core hands back: a [`Decision`] for a request body, or a [`Rejection`]
//! for a request refused before its body is read.
//!
//! A decision is a value, never an error: `Err` elsewhere in the crate means "could not
//! decide" and the glue fails closed. Shadow mode is the glue logging the same decision
//! instead of applying it.

use std::borrow::Cow;

use serde_json::Value;

use super::body::{JsonObject, Splice};
use super::reason::{ErrorCode, ReasonCode};

/// `third_party_security_mode`: fixed when the client is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityMode {
    Strict,
    Permissive,
}

impl SecurityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::Strict => "strict",
            SecurityMode::Permissive => "permissive",
        }
    }

    /// Exact, case-sensitive match of the wire value (SPEC §3: `"Strict"` is not a mode).
    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "strict" => Some(SecurityMode::Strict),
            "permissive" => Some(SecurityMode::Permissive),
            _ => None,
        }
    }
}

/// A request the gateway answers itself; the upstream never sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub code: ErrorCode,
    pub reason: ReasonCode,
    /// What was wrong and what to do. Never holds a token, a secret or a whole body.
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`, on 429s).
    pub retry_after: Option<u64>,
}

impl Rejection {
    pub fn new(status: u16, code: ErrorCode, reason: ReasonCode, message: impl Into<String>) -> Self {
        Rejection { status, code, reason, message: message.into(), retry_after: None }
    }

    /// 400 `invalid_body` (Management) / `invalid_client_metadata` (DCR).
    pub fn invalid_body(reason: ReasonCode, message: impl Into<String>) -> Self {
        Rejection::new(400, ErrorCode::InvalidBody, reason, message)
    }

    /// 429: over the tenant's DCR rate (SPEC §14); retry after `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        Rejection {
            retry_after: Some(seconds.max(1)),
            ..Rejection::new(
                429,
                ErrorCode::TooManyRequests,
                ReasonCode::DcrRateLimited,
                "too many registrations for this tenant; retry later",
            )
        }
    }

    /// 400 for a request whose target or headers are ambiguous.
    pub fn invalid_request(reason: ReasonCode, message: impl Into<String>) -> Self {
        Rejection::new(400, ErrorCode::InvalidRequest, reason, message)
    }
}

/// Members the gateway appends to a body, in order. Values are JSON documents.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Patch {
    pub members: Vec<(&'static str, Value)>,
}

impl Patch {
    pub fn push(&mut self, name: &'static str, value: Value) {
        self.members.push((name, value));
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.members.iter().map(|(name, _)| *name).collect()
    }
}

/// Members to append to a parsed body, and where they go in its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub patch: Patch,
    pub splice: Splice,
}

impl Injection {
    /// The original bytes with the patch's members appended.
    pub fn apply(&self, original: &[u8]) -> Vec<u8> {
        self.splice.apply(original, &self.patch)
    }
}

/// What to do with an intercepted request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Send the original bytes upstream.
    Forward,
    /// Send the original object with these members appended.
    Inject(Injection),
    /// Answer the client; send nothing upstream.
    Reject(Rejection),
}

/// The policy's verdict on one intercepted request body.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: ReasonCode,
    /// The mode the body asked for, when it asked for one.
    pub requested_mode: Option<SecurityMode>,
    /// The mode the created client ends up with, when the request creates a third-party client.
    pub effective_mode: Option<SecurityMode>,
}

impl Decision {
    pub fn forward(reason: ReasonCode) -> Self {
        Decision { outcome: Outcome::Forward, reason, requested_mode: None, effective_mode: None }
    }

    pub fn reject(rejection: Rejection) -> Self {
        let reason = rejection.reason;
        Decision { outcome: Outcome::Reject(rejection), reason, requested_mode: None, effective_mode: None }
    }

    /// Forward, or inject into `object` when the patch holds anything.
    pub fn forward_or_inject(object: &JsonObject, patch: Patch, forward: ReasonCode, inject: ReasonCode) -> Self {
        if patch.is_empty() {
            Decision::forward(forward)
        } else {
            let injection = Injection { patch, splice: object.splice() };
            Decision { outcome: Outcome::Inject(injection), reason: inject, requested_mode: None, effective_mode: None }
        }
    }

    pub fn with_modes(mut self, requested: Option<SecurityMode>, effective: Option<SecurityMode>) -> Self {
        self.requested_mode = requested;
        self.effective_mode = effective;
        self
    }

    /// The bytes the upstream receives when the decision is applied, or `None` on a reject.
    pub fn upstream_body<'a>(&self, original: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        match &self.outcome {
            Outcome::Forward => Some(Cow::Borrowed(original)),
            Outcome::Inject(injection) => Some(Cow::Owned(injection.apply(original))),
            Outcome::Reject(_) => None,
        }
    }

    /// The label of `modegate_requests_total{decision}` when the decision is applied.
    pub fn label(&self, shadow: bool) -> &'static str {
        match (&self.outcome, shadow) {
            (Outcome::Forward, _) => "forward",
            (Outcome::Inject(_), false) => "inject",
            (Outcome::Inject(_), true) => "would_inject",
            (Outcome::Reject(_), false) => "reject",
            (Outcome::Reject(_), true) => "would_reject",
        }
    }
}
