//! Telemetry in one place: every metric of SPEC §9, defined once on the gateway's own
//! registry, and the decision log.

pub mod decision_log;
pub mod process_log;

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub use decision_log::{DecisionLog, DecisionRecord};

pub const REQUESTS_TOTAL: &str = "modegate_requests_total";
pub const REQUEST_DURATION_SECONDS: &str = "modegate_request_duration_seconds";
pub const UPSTREAM_ERRORS_TOTAL: &str = "modegate_upstream_errors_total";
pub const JWT_VALIDATIONS_TOTAL: &str = "modegate_jwt_validations_total";
pub const JWKS_FETCHES_TOTAL: &str = "modegate_jwks_fetches_total";
pub const POLICY_CACHE_REQUESTS_TOTAL: &str = "modegate_policy_cache_requests_total";
pub const POLICY_CACHE_ENTRIES: &str = "modegate_policy_cache_entries";
pub const CONFIG_RELOADS_TOTAL: &str = "modegate_config_reloads_total";
pub const CONFIG_GENERATION: &str = "modegate_config_generation";
pub const BUILD_INFO: &str = "modegate_build_info";
pub const DECISION_LOG_DROPPED_TOTAL: &str = "modegate_decision_log_dropped_total";
pub const REGISTRY_READS_TOTAL: &str = "modegate_registry_reads_total";
pub const REGISTRY_WRITES_TOTAL: &str = "modegate_registry_writes_total";
pub const REGISTRY_CONFLICTS_TOTAL: &str = "modegate_registry_conflicts_total";
pub const REGISTRY_RETRY_QUEUE: &str = "modegate_registry_retry_queue";
pub const DCR_RATE_LIMITED_TOTAL: &str = "modegate_dcr_rate_limited_total";
pub const RATE_LIMIT_FALLBACKS_TOTAL: &str = "modegate_rate_limit_fallbacks_total";
pub const UPSTREAM_RESPONSES_TOTAL: &str = "modegate_upstream_responses_total";
pub const CONFIG_LAST_RELOAD_SUCCESS: &str = "modegate_config_last_reload_success_timestamp_seconds";
pub const CLIENT_LOOKUPS_TOTAL: &str = "modegate_client_lookups_total";

/// Every `route` label: the intercepted routes, `passthrough` and `refused`.
pub static ROUTE_LABELS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let intercepted = crate::policy::RouteId::EVERY.iter().map(|route| route.as_str());
    intercepted.chain(["passthrough", "refused"]).collect()
});

/// The `class` label of `modegate_upstream_responses_total`.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// `modegate_upstream_errors_total{kind}` (see `proxy::respond::upstream_failure`).
pub const UPSTREAM_ERROR_KINDS: [&str; 5] =
    ["connect_refused", "connect_timeout", "connect_error", "read_timeout", "protocol_error"];

/// `modegate_jwt_validations_total{result}`: `ok` or the token's refusal reason.
const JWT_RESULTS: [&str; 12] = [
    "ok",
    "token_missing",
    "token_malformed",
    "token_algorithm",
    "token_unknown_key",
    "token_signature",
    "token_expired",
    "token_not_yet_valid",
    "token_issuer",
    "token_audience",
    "keys_unavailable",
    "insufficient_scope",
];

/// The gateway's metrics. Labels are bounded: routes, decisions and reasons are enums,
/// and no tenant id is ever a label.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_errors: IntCounterVec,
    pub jwt_validations: IntCounterVec,
    pub jwks_fetches: IntCounterVec,
    pub policy_cache_requests: IntCounterVec,
    pub policy_cache_entries: IntGauge,
    pub config_reloads: IntCounterVec,
    pub config_generation: IntGauge,
    pub decision_log_dropped: prometheus::IntCounter,
    /// SPEC §12: where a registry read was answered (`front`, `store`, `miss`, `error`).
    pub registry_reads: IntCounterVec,
    /// `registry_reads{result="front"}`, bound once: it counts on the runtime routes' hot path.
    pub registry_front_reads: prometheus::IntCounter,
    /// What registry writes did (`inserted`, `kept`, `replaced`, `conflict`, `queued`,
    /// `replayed`, `dropped`).
    pub registry_writes: IntCounterVec,
    pub registry_conflicts: prometheus::IntCounter,
    pub registry_queue: IntGauge,
    /// SPEC §14: DCR requests refused by the rate limit, by where the limit was held
    /// (`shared`: Redis, `local`: this process).
    pub dcr_rate_limited: IntCounterVec,
    /// Rate-limit checks answered by the process's own limit because Redis failed.
    pub rate_limit_fallbacks: prometheus::IntCounter,
    /// Answers the upstream gave, by route and status class, bound once per pair (one per
    /// proxied request, on the hot path); indexed as [`ROUTE_LABELS`] × [`STATUS_CLASSES`].
    upstream_responses: Vec<[prometheus::IntCounter; 5]>,
    /// `request_duration_seconds{route}`, bound once per route (every request observes it).
    route_durations: Vec<prometheus::Histogram>,
    /// `requests_total{route="passthrough",decision="forward",reason="passthrough"}`, bound
    /// once: most requests count here.
    passthrough_requests: prometheus::IntCounter,
    /// Unix seconds of the last configuration loaded (at start, then each good reload).
    pub config_last_reload_success: prometheus::Gauge,
    /// SPEC §13: lookups of a runtime client with the tenant's management credentials
    /// (`found`, `not_found`, `error`).
    pub client_lookups: IntCounterVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric(name));
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).unwrap_or_else(|_| unreachable_metric(name));
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let requests =
            counter(REQUESTS_TOTAL, "Requests by route, decision and reason.", &["route", "decision", "reason"]);
        let upstream_errors = counter(UPSTREAM_ERRORS_TOTAL, "Failures talking to the upstream, by kind.", &["kind"]);
        let jwt_validations = counter(JWT_VALIDATIONS_TOTAL, "Bearer token validations, by result.", &["result"]);
        let jwks_fetches = counter(JWKS_FETCHES_TOTAL, "JWKS fetches, by result.", &["result"]);
        let policy_cache_requests =
            counter(POLICY_CACHE_REQUESTS_TOTAL, "Tenant cache look-ups: hit, miss, stale, error.", &["result"]);
        let config_reloads = counter(CONFIG_RELOADS_TOTAL, "Configuration reloads, by result.", &["result"]);
        let policy_cache_entries = gauge(POLICY_CACHE_ENTRIES, "Tenant documents held in the cache.");
        let config_generation = gauge(CONFIG_GENERATION, "Generation of the configuration in force; 1 at start.");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(REQUEST_DURATION_SECONDS, "Time from request head to end of response, by route.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["route"],
        )
        .unwrap_or_else(|_| unreachable_metric(REQUEST_DURATION_SECONDS));
        let _ = registry.register(Box::new(request_duration.clone()));
        let decision_log_dropped = prometheus::IntCounter::new(
            DECISION_LOG_DROPPED_TOTAL,
            "Decision log lines dropped because the writer fell behind.",
        )
        .unwrap_or_else(|_| unreachable_metric(DECISION_LOG_DROPPED_TOTAL));
        let _ = registry.register(Box::new(decision_log_dropped.clone()));
        let plain_counter = |name: &str, help: &str| {
            let metric = prometheus::IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric(name));
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let registry_reads =
            counter(REGISTRY_READS_TOTAL, "Client registry reads, by where they were answered.", &["result"]);
        let registry_writes = counter(REGISTRY_WRITES_TOTAL, "Client registry writes, by outcome.", &["result"]);
        for result in ["front", "store", "miss", "error"] {
            registry_reads.with_label_values(&[result]);
        }
        let registry_front_reads = registry_reads.with_label_values(&["front"]);
        for result in ["inserted", "kept", "replaced", "conflict", "queued", "replayed", "dropped", "unreadable"] {
            registry_writes.with_label_values(&[result]);
        }
        let registry_conflicts = plain_counter(
            REGISTRY_CONFLICTS_TOTAL,
            "Registry writes refused because they contradict the stored entry.",
        );
        let registry_queue = gauge(REGISTRY_RETRY_QUEUE, "Registry writes waiting to be retried.");
        let dcr_rate_limited = counter(DCR_RATE_LIMITED_TOTAL, "DCR requests refused by the rate limit.", &["scope"]);
        for scope in ["shared", "local"] {
            dcr_rate_limited.with_label_values(&[scope]);
        }
        let rate_limit_fallbacks =
            plain_counter(RATE_LIMIT_FALLBACKS_TOTAL, "Rate-limit checks held per process because Redis failed.");
        let upstream_responses_vec = counter(
            UPSTREAM_RESPONSES_TOTAL,
            "Answers the upstream gave, by route and status class.",
            &["route", "class"],
        );
        let upstream_responses = ROUTE_LABELS
            .iter()
            .map(|route| STATUS_CLASSES.map(|class| upstream_responses_vec.with_label_values(&[route, class])))
            .collect();
        let config_last_reload_success =
            prometheus::Gauge::new(CONFIG_LAST_RELOAD_SUCCESS, "Unix time of the last configuration loaded.")
                .unwrap_or_else(|_| unreachable_metric(CONFIG_LAST_RELOAD_SUCCESS));
        let _ = registry.register(Box::new(config_last_reload_success.clone()));
        let client_lookups =
            counter(CLIENT_LOOKUPS_TOTAL, "Runtime client lookups with management credentials.", &["result"]);
        // SPEC §15: every series with a fixed label set exists from the start, at zero
        for result in ["found", "not_found", "error", "over_budget"] {
            client_lookups.with_label_values(&[result]);
        }
        for kind in UPSTREAM_ERROR_KINDS {
            upstream_errors.with_label_values(&[kind]);
        }
        for result in ["ok", "error"] {
            jwks_fetches.with_label_values(&[result]);
            config_reloads.with_label_values(&[result]);
        }
        for result in JWT_RESULTS {
            jwt_validations.with_label_values(&[result]);
        }
        for result in ["hit", "miss", "stale", "error", "invalid"] {
            policy_cache_requests.with_label_values(&[result]);
        }
        let route_durations = ROUTE_LABELS.iter().map(|route| request_duration.with_label_values(&[route])).collect();
        let passthrough_requests = requests.with_label_values(&["passthrough", "forward", "passthrough"]);
        // the process's CPU, memory, file descriptors and start time (`process_*`)
        let _ = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        let build_info = IntGaugeVec::new(Opts::new(BUILD_INFO, "The running version."), &["version"])
            .unwrap_or_else(|_| unreachable_metric(BUILD_INFO));
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let _ = registry.register(Box::new(build_info));
        Metrics {
            registry,
            requests,
            request_duration,
            upstream_errors,
            jwt_validations,
            jwks_fetches,
            policy_cache_requests,
            policy_cache_entries,
            config_reloads,
            config_generation,
            decision_log_dropped,
            registry_reads,
            registry_front_reads,
            registry_writes,
            registry_conflicts,
            registry_queue,
            dcr_rate_limited,
            rate_limit_fallbacks,
            upstream_responses,
            route_durations,
            passthrough_requests,
            config_last_reload_success,
            client_lookups,
        }
    }

    /// Counts one upstream answer of a request on `route` (a [`ROUTE_LABELS`] entry).
    pub fn upstream_response(&self, route: &str, status: u16) {
        let Some(at) = ROUTE_LABELS.iter().position(|label| *label == route) else { return };
        let class = usize::from(status / 100).saturating_sub(1);
        if let Some(counter) = self.upstream_responses.get(at).and_then(|classes| classes.get(class)) {
            counter.inc();
        }
    }

    /// Observes how long a request on `route` (a [`ROUTE_LABELS`] entry) took.
    pub fn request_took(&self, route: &str, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        match ROUTE_LABELS.iter().position(|label| *label == route).and_then(|at| self.route_durations.get(at)) {
            Some(histogram) => histogram.observe(seconds),
            None => self.request_duration.with_label_values(&[route]).observe(seconds),
        }
    }

    /// Counts a request that was only forwarded.
    pub fn passthrough(&self) {
        self.passthrough_requests.inc();
    }

    /// A configuration was loaded now.
    pub fn config_loaded(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.config_last_reload_success.set(now.floor());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // encoding into a Vec cannot fail on I/O; a failure would only drop the output
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// Metric names and labels above are constants: construction cannot fail at run time.
#[expect(clippy::panic, reason = "static metric definitions are checked by the unit test below")]
fn unreachable_metric(name: &str) -> ! {
    panic!("metric `{name}` has an invalid definition")
}

#[cfg(test)]
mod tests {
    #[test]
    fn zero_initialised_labels_are_the_ones_counted() {
        use crate::policy::ReasonCode;
        for result in super::JWT_RESULTS.iter().filter(|r| **r != "ok") {
            assert!(ReasonCode::ALL.iter().any(|reason| reason.as_str() == *result), "{result}");
        }
        let metrics = super::metrics();
        metrics.upstream_response("token", 503);
        metrics.upstream_response("nonsense", 200);
        metrics.upstream_response("passthrough", 99);
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(text.contains("modegate_upstream_responses_total{class=\"5xx\",route=\"token\"} 1"), "{text}");
        assert!(text.contains("modegate_upstream_errors_total{kind=\"connect_timeout\"}"), "zero-initialised");
        assert!(text.contains("process_resident_memory_bytes"), "the process collector");
    }

    #[test]
    fn every_metric_is_exposed() {
        let metrics = super::metrics();
        metrics.requests.with_label_values(&["clients_create", "inject", "mode_injected"]).inc();
        metrics.request_duration.with_label_values(&["clients_create"]).observe(0.001);
        metrics.upstream_errors.with_label_values(&["connect_refused"]).inc();
        metrics.jwt_validations.with_label_values(&["ok"]).inc();
        metrics.jwks_fetches.with_label_values(&["ok"]).inc();
        metrics.policy_cache_requests.with_label_values(&["hit"]).inc();
        metrics.config_reloads.with_label_values(&["ok"]).inc();
        let text = String::from_utf8(metrics.render()).unwrap();
        for name in [
            super::REQUESTS_TOTAL,
            super::REQUEST_DURATION_SECONDS,
            super::UPSTREAM_ERRORS_TOTAL,
            super::JWT_VALIDATIONS_TOTAL,
            super::JWKS_FETCHES_TOTAL,
            super::POLICY_CACHE_REQUESTS_TOTAL,
            super::POLICY_CACHE_ENTRIES,
            super::CONFIG_RELOADS_TOTAL,
            super::CONFIG_GENERATION,
            super::BUILD_INFO,
            super::DECISION_LOG_DROPPED_TOTAL,
            super::REGISTRY_READS_TOTAL,
            super::REGISTRY_WRITES_TOTAL,
            super::REGISTRY_CONFLICTS_TOTAL,
            super::REGISTRY_RETRY_QUEUE,
            super::DCR_RATE_LIMITED_TOTAL,
            super::RATE_LIMIT_FALLBACKS_TOTAL,
        ] {
            assert!(text.contains(name), "{name} missing from /metrics");
        }
    }
}
