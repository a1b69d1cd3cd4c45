//! The DCR rate limit per tenant (SPEC §14): a token bucket of `dcr_rate_per_s` with bursts
//! of `dcr_burst`, held by every replica together in Redis when the registry lives there,
//! by this process otherwise, and by this process again while Redis fails (counted).
//!
//! Shared: one Lua script per request (GCRA, the bucket as a single "theoretical arrival
//! time" key), timed by Redis's own clock so replicas with skewed clocks agree.
//! Local: `governor`, one bucket per tenant and rate.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::policy::inputs::DcrRate;
use crate::registry::redis_store::SharedRedis;
use crate::telemetry::metrics;

/// GCRA: `KEYS[1]` holds the bucket's theoretical arrival time in microseconds of Redis's
/// clock; `ARGV[1]` is the interval between tokens (µs), `ARGV[2]` the burst. Returns 0
/// when allowed, else the microseconds until a request would be.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - interval * burst
if allow_at > now then return math.ceil(allow_at - now) end
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', math.ceil(interval * burst / 1000) + 1000)
return 0";

/// After Redis failed, how long checks stay with the process's own limit before Redis is
/// tried again: an outage costs one timeout a second, not one per registration.
const SHARED_RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct DcrLimiter {
    shared: Option<SharedRedis>,
    /// When Redis last failed (`None`: it answers).
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
    script: redis::Script,
    local: moka::sync::Cache<(String, DcrRate), Arc<DefaultDirectRateLimiter>>,
}

impl DcrLimiter {
    /// `shared`: the Redis pool and key prefix of the registry, when it lives in Redis.
    pub fn new(shared: Option<SharedRedis>) -> Self {
        DcrLimiter {
            shared,
            failed_at: std::sync::Mutex::new(None),
            script: redis::Script::new(GCRA),
            local: moka::sync::Cache::new(100_000),
        }
    }

    /// Whether checks can block (a Redis round trip): only then do they belong off the
    /// async threads; the process's own buckets answer in well under a microsecond.
    pub fn blocks(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes one registration from `tenant`'s bucket; `Err(wait)` when it is empty.
    /// Blocking (Redis round trip, bounded by its timeout): call off the async threads.
    pub fn check(&self, tenant: &str, rate: DcrRate) -> Result<(), Duration> {
        if let Some(SharedRedis { pool, prefix }) = &self.shared
            && !self.recently_failed()
        {
            let key = format!("{prefix}dcr:{tenant}");
            let interval = 1_000_000 / u64::from(rate.per_s.max(1));
            let answer: Result<u64, String> =
                pool.run(|c| self.script.key(&key).arg(interval).arg(rate.burst.max(1)).invoke(c));
            if answer.is_ok()
                && let Ok(mut failed_at) = self.failed_at.lock()
            {
                *failed_at = None;
            }
            match answer {
                Ok(0) => return Ok(()),
                Ok(wait) => {
                    metrics().dcr_rate_limited.with_label_values(&["shared"]).inc();
                    return Err(Duration::from_micros(wait));
                }
                Err(e) => {
                    let first = self.failed_at.lock().map(|mut at| at.replace(std::time::Instant::now()).is_none());
                    if first.unwrap_or(true) {
                        log::warn!("DCR rate limit: {e}; this process holds its own limit meanwhile");
                    }
                }
            }
        }
        if self.shared.is_some() {
            metrics().rate_limit_fallbacks.inc();
        }
        self.check_local(tenant, rate)
    }

    /// Redis failed less than [`SHARED_RETRY_AFTER`] ago: stay local. Past it, one check
    /// tries Redis again (and clears the mark when it answers).
    fn recently_failed(&self) -> bool {
        let Ok(mut failed_at) = self.failed_at.lock() else { return false };
        match *failed_at {
            Some(at) if at.elapsed() < SHARED_RETRY_AFTER => true,
            Some(_) => {
                // this check probes; the others stay local until it answers
                *failed_at = Some(std::time::Instant::now());
                false
            }
            None => false,
        }
    }

    fn check_local(&self, tenant: &str, rate: DcrRate) -> Result<(), Duration> {
        let per_s = NonZeroU32::new(rate.per_s).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        let bucket = self.local.get_with((tenant.to_owned(), rate), || {
            Arc::new(RateLimiter::direct(Quota::per_second(per_s).allow_burst(burst)))
        });
        bucket.check().map_err(|not_until| {
            metrics().dcr_rate_limited.with_label_values(&["local"]).inc();
            // the bucket's own clock: a new one calibrates itself with `cpuid`, which a
            // virtual machine traps (tens of microseconds for every refusal of a flood)
            not_until.wait_time_from(bucket.clock().now())
        })
    }
}
