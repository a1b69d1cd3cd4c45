//! The command line (SPEC §10, §15): `run` (the default), `check`, `decide`, `test`.

pub mod clients;
mod policy_tests;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use time::Date;
use time::macros::format_description;

use crate::config::{self, Config};
use crate::policy::{self, RequestHead, Step, UpstreamBody, wire};

/// Exit codes, after sysexits.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// `EX_USAGE`: the configuration was refused.
    BadConfig = 64,
    /// `EX_DATAERR`: the request given to `decide` is not usable.
    BadInput = 65,
    /// The gateway could not start.
    Failure = 1,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "modegate",
    version,
    about = "Enforces third-party application security modes in front of an authorization server",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no command, `run` (the default command) serves this configuration.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// With no command, `run --upgrade`.
    #[arg(long, short)]
    upgrade: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve (the default command).
    Run {
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// Take over the listening sockets of a running instance (graceful upgrade).
        #[arg(long, short)]
        upgrade: bool,
    },
    /// Validate a configuration and list every problem.
    Check {
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// The gateway in front of the built-in reference authorization server, on loopback.
    Demo {
        #[arg(long, short, default_value = crate::demo::CONFIG)]
        config: PathBuf,
        /// The reference server's RS256 signing key (PEM).
        #[arg(long, default_value = crate::demo::SIGNING_KEY)]
        key: PathBuf,
    },
    /// Serve only the reference authorization server (for tests and experiments).
    Reference {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
        /// A tenant host; repeat for several.
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        #[arg(long, default_value = crate::demo::SIGNING_KEY)]
        key: PathBuf,
        /// Serve TLS with this certificate (PEM) and `--tls-key`.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<String>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<String>,
        /// Play a legacy server that knows nothing of modes: drop `third_party_security_mode`
        /// from what it stores.
        #[arg(long)]
        drop_mode: bool,
        /// Seed this many clients per tenant (ids `seed000000`…).
        #[arg(long, default_value_t = 0)]
        seed_clients: usize,
    },
    /// The client registry (SPEC §12): read it, move it between stores, fill it from the upstream.
    Clients {
        #[command(subcommand)]
        command: crate::cli::clients::ClientsCommand,
    },
    /// Run policy tests: requests and the decisions expected for them, offline.
    Test {
        /// Test files (TOML: `config`, optional `today`, `[[case]]` with `name`, `request`, `expect`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `modegate man > modegate.1`.
    Man,
    /// Read one request as JSON on stdin and print the decision, without any network.
    Decide {
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// Decide as on this date (`YYYY-MM-DD`) instead of today.
        #[arg(long)]
        today: Option<String>,
    },
}

impl Cli {
    /// The process log's format and level: the `[log]` table of the configuration the gateway
    /// will serve with (read alone, before the whole file is validated, so that loading it
    /// can already log), else text at `info`.
    pub fn process_log(&self) -> (config::LogFormat, String) {
        let path = match &self.command {
            None => Some(self.config.as_deref().unwrap_or(Path::new(config::DEFAULT_PATH))),
            Some(Command::Run { config, .. } | Command::Demo { config, .. }) => Some(config.as_path()),
            Some(_) => None,
        };
        /// Only `[log]`: the rest of the file is skipped, not built into a table.
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct File {
            log: Log,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Log {
            format: Option<toml::Value>,
            level: Option<toml::Value>,
        }
        let read = || {
            path.and_then(|path| std::fs::read_to_string(path).ok())
                .and_then(|text| toml::from_str::<File>(&text).ok())
                .unwrap_or_default()
        };
        // no thread for the peek: the defaults, and the load that follows says why
        let log = crate::heap::on_a_heap_of_its_own(read).unwrap_or_default().log;
        let format = match log.format.as_ref().and_then(toml::Value::as_str) {
            Some("json") => config::LogFormat::Json,
            _ => config::LogFormat::Text,
        };
        (format, log.level.as_ref().and_then(toml::Value::as_str).unwrap_or("info").to_owned())
    }
}

pub fn run(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or_else(|| Command::Run {
        config: cli.config.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH)),
        upgrade: cli.upgrade,
    });
    match command {
        Command::Run { config, upgrade } => run_gateway(&config, upgrade),
        Command::Check { config } => check(&config),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "modegate", &mut std::io::stdout());
            Exit::Ok.into()
        }
        Command::Man => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => Exit::Ok.into(),
                Err(e) => {
                    eprintln!("modegate man: {e}");
                    Exit::Failure.into()
                }
            }
        }
        Command::Demo { config, key } => report(crate::demo::run(&config, &key)),
        Command::Clients { command } => crate::cli::clients::run(command),
        Command::Reference { listen, hosts, key, tls_cert, tls_key, drop_mode, seed_clients } => {
            let options =
                ReferenceOptions { tls: tls_cert.as_deref().zip(tls_key.as_deref()), drop_mode, seed_clients };
            report(reference(&listen, &hosts, &key, &options))
        }
        Command::Test { files } => match policy_tests::run(&files) {
            Ok(tally) if tally.failed == 0 => Exit::Ok.into(),
            Ok(_) => Exit::Failure.into(),
            Err(e) => {
                eprintln!("modegate test: {e:#}");
                Exit::BadInput.into()
            }
        },
        Command::Decide { config, today } => {
            let stdin = &mut std::io::stdin();
            match decide(&config, today.as_deref(), stdin) {
                Ok(output) => {
                    println!("{output}");
                    Exit::Ok.into()
                }
                Err(DecideError::Config(e)) => {
                    eprintln!("{e}");
                    Exit::BadConfig.into()
                }
                Err(DecideError::Input(e)) => {
                    eprintln!("modegate decide: {e:#}");
                    Exit::BadInput.into()
                }
            }
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            eprintln!("modegate: {e:#}");
            Exit::Failure.into()
        }
    }
}

struct ReferenceOptions<'a> {
    tls: Option<(&'a str, &'a str)>,
    drop_mode: bool,
    seed_clients: usize,
}

fn reference(listen: &str, hosts: &[String], key: &Path, options: &ReferenceOptions<'_>) -> anyhow::Result<()> {
    let pem = std::fs::read(key).with_context(|| format!("{}", key.display()))?;
    let tenants: Vec<_> = hosts.iter().map(|h| crate::demo::reference::ReferenceTenant::demo(h)).collect();
    let reference = crate::demo::reference::ReferenceServer::new(&pem, &tenants)?
        .with_options(options.drop_mode, options.seed_clients);
    let tls = options.tls;
    let conf =
        pingora::server::configuration::ServerConf { threads: 1, grace_period_seconds: Some(0), ..Default::default() };
    let mut server =
        pingora::server::Server::new_with_opt_and_conf(pingora::server::configuration::Opt::default(), conf);
    server.bootstrap();
    let listen: std::net::SocketAddr =
        listen.parse().with_context(|| format!("--listen `{listen}` is not an address such as 127.0.0.1:3000"))?;
    let ports = crate::listen::PortReservations::default();
    let (service, bound) = crate::demo::reference_service(reference, listen, &ports, tls)?;
    server.add_service(service);
    server.add_service(pingora::services::background::background_service("port reservations", ports));
    // the bound address, port 0 resolved: what tests read back
    log::info!("reference server listening: {bound} for {}", hosts.join(", "));
    server.run_forever()
}

fn load(path: &Path) -> Result<Config, config::ConfigError> {
    let (config, warnings) = config::load_to_serve(path)?;
    for warning in warnings {
        log::warn!("{}: {warning}", path.display());
    }
    Ok(config)
}

fn run_gateway(path: &Path, upgrade: bool) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Exit::BadConfig.into();
        }
    };
    match crate::app::run(config, crate::app::RunOptions { config_path: path.to_owned(), upgrade }) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            eprintln!("modegate: {e:#}");
            Exit::Failure.into()
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match config::load_as(path, config::Purpose::Check) {
        Ok((config, warnings)) => {
            for warning in &warnings {
                println!("{}: warning: {warning}", path.display());
            }
            println!("{}: ok ({} tenants)", path.display(), config.tenants.list.len());
            Exit::Ok.into()
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{}: {} problem(s)", path.display(), e.problems.len());
            Exit::BadConfig.into()
        }
    }
}

#[derive(Debug)]
pub enum DecideError {
    Config(config::ConfigError),
    Input(anyhow::Error),
}

/// `modegate decide`: the request JSON on `input`, the decision JSON returned.
pub fn decide(path: &Path, today: Option<&str>, input: &mut dyn Read) -> Result<Value, DecideError> {
    // offline (SPEC §10): nothing is resolved either
    let config = config::load_as(path, config::Purpose::Check).map_err(DecideError::Config)?.0;
    let mut text = String::new();
    input.read_to_string(&mut text).context("cannot read stdin").map_err(DecideError::Input)?;
    let today = match today {
        Some(date) => Date::parse(date, format_description!("[year]-[month]-[day]"))
            .with_context(|| format!("--today `{date}` is not a YYYY-MM-DD date"))
            .map_err(DecideError::Input)?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    decide_text(&config, &text, today).map_err(DecideError::Input)
}

/// The keys of a `decide` input and what each must be.
const DECIDE_INPUT: [(&str, &str); 6] = [
    ("method", "a string"),
    ("host", "a string"),
    ("path", "a string"),
    ("headers", "an object"),
    ("body", "a string"),
    ("current_client", "a client document"),
];

/// The decision for one request document, as printed by `modegate decide`.
pub fn decide_text(config: &Config, text: &str, today: Date) -> anyhow::Result<Value> {
    let request: Value = serde_json::from_str(text).context("the request is not JSON")?;
    let object = request.as_object().ok_or_else(|| anyhow!("the request must be a JSON object"))?;
    for (key, value) in object {
        let Some(expected) = DECIDE_INPUT.iter().find(|(name, _)| name == key).map(|(_, kind)| *kind) else {
            let known: Vec<&str> = DECIDE_INPUT.iter().map(|(name, _)| *name).collect();
            bail!("unknown input key `{key}`; the keys are {}", known.join(", "));
        };
        if expected == "a string" && !value.is_string() {
            bail!("`{key}` must be a string (the body as text, e.g. \"{{\\\"name\\\":\\\"x\\\"}}\")");
        }
    }
    let field = |name: &str| request.get(name).and_then(Value::as_str);
    let method = field("method").unwrap_or("GET");
    let path = field("path").ok_or_else(|| anyhow!("the request needs a `path`"))?;
    let mut headers = HeaderMap::new();
    if let Some(map) = request.get("headers") {
        let map = map.as_object().ok_or_else(|| anyhow!("`headers` must be an object"))?;
        for (name, value) in map {
            let name =
                HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("`{name}` is not a header name"))?;
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for value in values {
                let value =
                    value.as_str().ok_or_else(|| anyhow!("header `{name}` must be a string or an array of strings"))?;
                headers.append(
                    name.clone(),
                    HeaderValue::from_str(value).with_context(|| format!("header `{name}` has an invalid value"))?,
                );
            }
        }
    }
    if let Some(host) = field("host")
        && !headers.contains_key(http::header::HOST)
    {
        headers.insert(http::header::HOST, HeaderValue::from_str(host).context("`host` is not a valid host")?);
    }
    let body = field("body").unwrap_or_default();
    if !headers.contains_key(http::header::CONTENT_LENGTH) && !headers.contains_key(http::header::TRANSFER_ENCODING) {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let head = RequestHead {
        method,
        target: path.as_bytes(),
        authority: None,
        headers: &headers,
        version: http::Version::HTTP_11,
        body_follows: !body.is_empty(),
    };
    // clients_update: the current state comes from the `tpc_` prefix or from the input's
    // `current_client` ({"is_first_party":…,"third_party_security_mode":…, and optionally the
    // current `grant_types` and `token_endpoint_auth_method`); without either the update is
    // decided as for a client the upstream does not know
    let current_client = match request.get("current_client") {
        Some(document) => Some(
            policy::CurrentClient::from_document(document)
                .ok_or_else(|| anyhow!("`current_client` must be a client document such as {{\"is_first_party\":false,\"third_party_security_mode\":\"strict\"}}"))?,
        ),
        None => head
            .path()
            .and_then(policy::route::client_id)
            .and_then(|id| policy::ClientState::from_client_id(&id))
            .map(policy::CurrentClient::of_state),
    };
    let tenants = |host: &str| config.tenants.by_host(host).map(|t| Arc::clone(&t.policy));
    let evaluation =
        policy::evaluate(&head, body.as_bytes(), Arc::clone(&config.policy), tenants, today, current_client);
    let api = evaluation.api;
    let mut output = json!({
        "route": evaluation.route,
        "tenant": evaluation.tenant,
        "shadow": evaluation.shadow,
        "token_checks": "skipped: decide makes no network calls and verifies no tokens",
        "client_lookup": "none: clients_update uses the `tpc_` prefix or the input's `current_client`",
    });
    let answer = |rejection: &policy::Rejection| {
        let answer = wire::render(rejection, api);
        json!({
            "status": answer.status,
            "body": String::from_utf8_lossy(&answer.body),
            "headers": { "content-type": answer.content_type, "cache-control": answer.cache_control, wire::REASON_HEADER: answer.reason },
        })
    };
    let describe = |record: Option<&policy::Record>| {
        let mut fields = serde_json::Map::new();
        fields.insert("decision".into(), json!(record.map_or("passthrough", |r| r.decision)));
        fields.insert("reason".into(), json!(record.map_or(policy::ReasonCode::Passthrough, |r| r.reason).as_str()));
        let mode = |mode: Option<policy::SecurityMode>| json!(mode.map(|m| m.as_str()));
        fields.insert("requested_mode".into(), mode(record.and_then(|r| r.requested_mode)));
        fields.insert("effective_mode".into(), mode(record.and_then(|r| r.effective_mode)));
        fields.insert("injected".into(), json!(record.map(|r| r.injected.clone()).unwrap_or_default()));
        fields
    };
    let fields = match &evaluation.end {
        Step::Respond { rejection, record, .. } => {
            let mut fields = describe(Some(record));
            fields.insert("status".into(), json!(rejection.status));
            fields.insert("response".into(), answer(rejection));
            fields
        }
        Step::Forward { body: forwarded, record, .. } => {
            let mut fields = describe(record.as_ref());
            fields.insert("status".into(), Value::Null);
            let forwarded = match forwarded {
                UpstreamBody::Untouched => body.to_owned(),
                UpstreamBody::Decided(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            };
            fields.insert("body".into(), json!(forwarded));
            if let Some(would) = record.as_ref().and_then(|r| r.would_answer.as_ref()) {
                fields.insert("would_answer".into(), answer(would));
            }
            fields
        }
        _ => bail!("internal: the pipeline stopped before its end"),
    };
    if let Some(out) = output.as_object_mut() {
        out.extend(fields);
    } else {
        bail!("internal: decision output is not an object");
    }
    Ok(output)
}
