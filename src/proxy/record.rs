//! What a request leaves behind: its metric labels and, for an intercepted one, its decision
//! record (SPEC §9, §15; the policy's [`crate::policy::Record`]), with the request id that
//! ties the record to the caller's logs.

use std::time::Duration;

use pingora::proxy::Session;
use time::OffsetDateTime;

use super::Ctx;
use crate::policy::ReasonCode;
use crate::telemetry::{DecisionLog, DecisionRecord, metrics};

/// Counts the request and, for an intercepted one, writes its decision record.
pub fn write(log: &DecisionLog, session: &Session, ctx: &mut Ctx, route: &'static str, elapsed: Duration) {
    let metrics = metrics();
    metrics.request_took(route, elapsed);
    let Some(parts) = ctx.record.take() else {
        if route == "passthrough" {
            metrics.passthrough();
        } else {
            metrics.requests.with_label_values(&[route, "forward", ReasonCode::Passthrough.as_str()]).inc();
        }
        return;
    };
    let status = session.response_written().map_or(0, |r| r.status.as_u16());
    metrics.requests.with_label_values(&[route, parts.decision, parts.reason.as_str()]).inc();
    if !log.is_on() {
        return;
    }
    let tenant = ctx.tenant.as_deref();
    log.write(&DecisionRecord {
        time: OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        decision_id: crate::telemetry::decision_log::next_decision_id(),
        generation: ctx.generation,
        request_id: request_id(session),
        tenant: tenant.map(|t| t.policy.id.clone()),
        customer: tenant.map(|t| t.policy.customer.clone()),
        route,
        decision: parts.decision,
        reason: parts.reason.as_str(),
        enforcement: tenant.map(|t| t.policy.enforcement.as_str()),
        requested_mode: parts.requested_mode.map(|m| m.as_str()),
        effective_mode: parts.effective_mode.map(|m| m.as_str()),
        injected: parts.injected,
        sub: ctx.claims.as_ref().and_then(|c| c.sub.clone()),
        azp: ctx.claims.as_ref().and_then(|c| c.azp.clone()),
        status,
        upstream_status: ctx.upstream_status,
        // whole microseconds: `1.234`, not `1.2339999999999998`
        latency_ms: elapsed.as_micros() as f64 / 1000.0,
    });
}

/// The caller's `x-request-id` when it is a short printable token, else a fresh one.
fn request_id(session: &Session) -> String {
    let given = session.req_header().headers.get("x-request-id").and_then(|v| v.to_str().ok());
    match given {
        Some(id) if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => id.to_owned(),
        _ => {
            use std::sync::LazyLock;
            use std::sync::atomic::{AtomicU64, Ordering};
            static NEXT: AtomicU64 = AtomicU64::new(1);
            // read once: `std::process::id()` is a system call every time
            static PID: LazyLock<u32> = LazyLock::new(std::process::id);
            format!("mg-{}-{}", *PID, NEXT.fetch_add(1, Ordering::Relaxed))
        }
    }
}
