//! Live configuration (SPEC §8 Reload): SIGHUP, `POST /-/reload` and a change of the file
//! all call [`Reloader::reload`], which validates the whole file with `config::load_to_serve` and
//! swaps the proxy's [`State`] in one step. A request in flight keeps the `Arc` it started
//! with; a refused file leaves the running configuration in place.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::config::{self, Config, ConfigError, SourceKind};
use crate::proxy::State;
use crate::telemetry::metrics;
use crate::tenant::InlineSource;
use crate::tenant::http::HttpSource;
use crate::upstream::SideClient;
use futures_executor::block_on;

/// How often the file is checked for changes (and an unready policy service probed).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Builds the proxy state for `config`, keeping the remote tenant source of `previous`:
/// the same source when its settings did not change, its documents, last good copies and
/// readiness carried into a new one when they did. Runs off the async threads.
pub fn build_state(config: Config, previous: Option<&State>, side: &Arc<SideClient>, generation: u64) -> State {
    let config = Arc::new(config);
    match &config.source {
        SourceKind::Inline => State {
            tenants: Arc::new(InlineSource::new(config.tenants.clone())),
            http: None,
            config: Arc::clone(&config),
            generation,
        },
        SourceKind::Http(settings) => {
            let http = match previous.and_then(|p| p.http.as_ref()) {
                Some(http) if http.settings() == settings => {
                    http.set_inline(config.tenants.clone());
                    Arc::clone(http)
                }
                // SPEC §8: other settings, same documents, last good copies and readiness
                Some(http) => {
                    Arc::new(block_on(HttpSource::carry_over(http, settings.clone(), config.tenants.clone())))
                }
                None => Arc::new(HttpSource::new(settings.clone(), config.tenants.clone(), Arc::clone(side))),
            };
            State { tenants: Arc::clone(&http) as _, http: Some(http), config: Arc::clone(&config), generation }
        }
    }
}

/// Identity of the file's content as far as polling can tell.
type FileStamp = (SystemTime, u64);

pub struct Reloader {
    path: PathBuf,
    state: Arc<ArcSwap<State>>,
    side: Arc<SideClient>,
    generation: AtomicU64,
    /// Set once SIGHUP is handled (before that, SIGHUP would end the process).
    listening: std::sync::atomic::AtomicBool,
    /// Serialises reloads; holds the stamp of the file last loaded (or refused).
    last: Mutex<Option<FileStamp>>,
}

impl Reloader {
    pub fn new(path: PathBuf, state: Arc<ArcSwap<State>>, side: Arc<SideClient>) -> Self {
        let stamp = file_stamp(&path);
        metrics().config_generation.set(1);
        metrics().config_loaded();
        Reloader {
            path,
            state,
            side,
            generation: AtomicU64::new(1),
            listening: std::sync::atomic::AtomicBool::new(false),
            last: Mutex::new(stamp),
        }
    }

    /// Ready to serve: SIGHUP is handled and the tenant source has answered once.
    pub fn is_ready(&self) -> bool {
        self.listening.load(Ordering::Acquire) && self.state.load().tenants.is_ready()
    }

    /// The bearer token `POST /-/reload` needs, from the configuration in force.
    pub fn admin_token(&self) -> Option<crate::config::AdminToken> {
        self.state.load().config.server.admin_token.clone()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Loads and validates the file; on success swaps it in and returns the new generation.
    pub fn reload(&self, trigger: &str) -> Result<u64, ConfigError> {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *last = file_stamp(&self.path);
        let loaded = config::load_to_serve(&self.path).and_then(|(config, warnings)| {
            let refusals = weakening(&self.state.load().config, &config);
            if refusals.is_empty() { Ok((config, warnings)) } else { Err(ConfigError::new(&self.path, refusals)) }
        });
        match loaded {
            Ok((config, warnings)) => {
                for warning in warnings {
                    log::warn!("{}: {warning}", self.path.display());
                }
                let previous = self.state.load_full();
                warn_restart_only(&previous.config, &config);
                // reloads are serialised by `last`: this is the next generation
                let generation = self.generation.load(Ordering::Acquire) + 1;
                let state = build_state(config, Some(&previous), &self.side, generation);
                self.state.store(Arc::new(state));
                self.generation.store(generation, Ordering::Release);
                // the old configuration goes once its last request ends; what is already free goes now
                drop(previous);
                crate::heap::release_freed_memory();
                metrics().config_reloads.with_label_values(&["ok"]).inc();
                metrics().config_loaded();
                metrics().config_generation.set(i64::try_from(generation).unwrap_or(i64::MAX));
                log::info!("configuration reloaded ({trigger}): generation {generation}");
                Ok(generation)
            }
            Err(error) => {
                metrics().config_reloads.with_label_values(&["error"]).inc();
                log::error!("configuration reload ({trigger}) refused; the running configuration stays:\n{error}");
                Err(error)
            }
        }
    }

    /// Reloads when the file changed since it was last read.
    pub fn reload_if_changed(&self) {
        let current = file_stamp(&self.path);
        let changed = {
            let last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            current.is_some() && current != *last
        };
        if changed {
            let _ = self.reload("file change");
        }
    }
}

fn file_stamp(path: &PathBuf) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// Settings bound at startup: a reload cannot change them, and says so.
fn warn_restart_only(old: &Config, new: &Config) {
    let tls = |c: &Config| c.server.tls.as_ref().map(|t| (t.listen.clone(), t.cert.clone(), t.key.clone()));
    let checks = [
        ("server.listen", old.server.listen != new.server.listen),
        ("server.admin_listen", old.server.admin_listen != new.server.admin_listen),
        ("server.threads", old.server.threads != new.server.threads),
        ("server.work_stealing", old.server.work_stealing != new.server.work_stealing),
        ("server.h2_creations_in_flight", old.server.h2_creations_in_flight != new.server.h2_creations_in_flight),
        ("server.grace_period_s", old.server.grace_period != new.server.grace_period),
        ("server.upgrade_sock", old.server.upgrade_sock != new.server.upgrade_sock),
        ("server.header_read_timeout_ms", old.server.header_read_timeout != new.server.header_read_timeout),
        ("server.tls", tls(old) != tls(new)),
        ("upstream.ca_file", old.upstream.ca_file != new.upstream.ca_file),
        ("log.decisions", old.log.decisions != new.log.decisions),
        ("log.format", old.log.format != new.log.format),
        ("log.level", old.log.level != new.log.level),
        ("clients", old.clients != new.clients),
    ];
    let changed: Vec<&str> = checks.iter().filter(|(_, changed)| *changed).map(|(key, _)| *key).collect();
    if !changed.is_empty() {
        log::warn!("reload: {} take effect only after a restart or a graceful upgrade", changed.join(", "));
    }
}

/// What a reload may not do, however valid the new file: turn off the admin token (the
/// reload endpoint it guards would open itself), or drop every tenant (a half-written or
/// emptied file would take the whole gateway out). A restart can do either, deliberately.
fn weakening(running: &Config, next: &Config) -> config::Problems {
    let mut problems = config::Problems::default();
    if running.server.admin_token.is_some() && next.server.admin_token.is_none() {
        problems.push_help(
            "server.admin_token_env",
            "a reload cannot turn the admin token off",
            "restore it, or restart modegate to run without it",
        );
    }
    let tenants = |config: &Config| config.tenants.list.len();
    if tenants(running) > 0 && tenants(next) == 0 && next.source == config::SourceKind::Inline {
        problems.push_help(
            "tenants",
            format!("a reload cannot remove every tenant ({} run now)", tenants(running)),
            "check that the file was written whole (write a new file, then rename it over the old one); restart to run without tenants",
        );
    }
    problems
}

/// The background task: SIGHUP, the file poll, and probing an unready policy service.
pub struct ReloadService {
    pub reloader: Arc<Reloader>,
    /// Reopened on SIGUSR1 (log rotation).
    pub decision_log: Arc<crate::telemetry::DecisionLog>,
}

#[async_trait]
impl BackgroundService for ReloadService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut hangups, mut rotations) = match (signal(SignalKind::hangup()), signal(SignalKind::user_defined1())) {
            (Ok(hangups), Ok(rotations)) => {
                self.reloader.listening.store(true, Ordering::Release);
                (Some(hangups), Some(rotations))
            }
            (hangups, rotations) => {
                // not ready: a SIGHUP or SIGUSR1 would end the process
                log::error!(
                    "cannot listen for SIGHUP and SIGUSR1: {:?} {:?}",
                    hangups.as_ref().err(),
                    rotations.as_ref().err()
                );
                (hangups.ok(), rotations.ok())
            }
        };
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = async { match hangups.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    let reloader = Arc::clone(&self.reloader);
                    // file reads and DNS: off the async threads
                    let _ = tokio::task::spawn_blocking(move || reloader.reload("SIGHUP")).await;
                }
                Some(()) = async { match rotations.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => {
                    self.decision_log.reopen();
                    log::info!("SIGUSR1: reopening the decision log");
                }
                _ = tick.tick() => {
                    let reloader = Arc::clone(&self.reloader);
                    let _ = tokio::task::spawn_blocking(move || reloader.reload_if_changed()).await;
                    let http = self.reloader.state.load().http.clone();
                    if let Some(http) = http {
                        http.probe().await;
                        http.publish_entries().await;
                    }
                }
            }
        }
    }
}
