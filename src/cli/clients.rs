//! `modegate clients …` (SPEC §12): read the client registry, move it between stores as
//! JSON lines, and fill it from the upstream's Management API.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;

use crate::config::{self, Config};
use crate::policy::ClientState;
use crate::registry::{Entry, Origin, Store, Written, open_store};
use crate::upstream::{Endpoint, SideClient};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Print one client's entry (JSON).
    Get {
        client_id: String,
        /// The tenant; needed when several tenants are configured.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Print every entry, one JSON object a line.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Print every entry as JSON lines, for `import --from` into another store.
    Export {
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Fill the registry from the upstream (`--tenant`) or from an export (`--from`).
    Import {
        /// Page through this tenant's clients at the upstream.
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        tenant: Option<String>,
        /// JSON lines written by `clients export`.
        #[arg(long)]
        from: Option<PathBuf>,
        #[arg(long, short, default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
}

pub fn run(command: ClientsCommand) -> ExitCode {
    let result = match command {
        ClientsCommand::Get { client_id, tenant, config } => get(&config, &client_id, tenant.as_deref()),
        ClientsCommand::List { tenant, config } => list(&config, tenant.as_deref()),
        ClientsCommand::Export { config } => list(&config, None),
        ClientsCommand::Import { tenant: Some(tenant), config, .. } => import_upstream(&config, &tenant),
        ClientsCommand::Import { from: Some(file), config, .. } => import_file(&config, &file),
        ClientsCommand::Import { .. } => Err(anyhow!("name `--tenant` or `--from`")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("modegate clients: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The configuration and its store, opened as the gateway opens it.
fn open(path: &Path) -> anyhow::Result<(Config, Arc<dyn Store>)> {
    let (config, _warnings) = config::load(path).map_err(|e| anyhow!("{e}"))?;
    if config.clients.store == crate::config::ClientStoreSettings::Memory {
        bail!(
            "clients.store is `memory`: the registry lives in the gateway's process only; nothing to read or fill here"
        );
    }
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    let (store, _) = open_store(&config.clients.store, &dir)?;
    Ok((config, store))
}

fn get(path: &Path, client_id: &str, tenant: Option<&str>) -> anyhow::Result<ExitCode> {
    let (config, store) = open(path)?;
    let tenants: Vec<String> = match tenant {
        Some(tenant) => vec![tenant.to_owned()],
        None => config.tenants.list.iter().map(|t| t.policy.id.clone()).collect(),
    };
    // a `tpc_` entry is kept under its id in lowercase, as the gateway reads the prefix in
    // any case (`ClientModes::remember`)
    let kept_as = match crate::policy::ClientState::from_client_id(client_id) {
        Some(_) => client_id.to_ascii_lowercase(),
        None => client_id.to_owned(),
    };
    let found: Vec<Entry> =
        tenants.iter().filter_map(|t| store.get(t, &kept_as).transpose()).collect::<Result<_, _>>()?;
    match found.as_slice() {
        [] => {
            eprintln!("modegate clients: `{client_id}` is not in the registry ({})", store.describe());
            Ok(ExitCode::from(2))
        }
        [entry] => {
            println!("{}", entry.to_json());
            Ok(ExitCode::SUCCESS)
        }
        _ => bail!("`{client_id}` is known on several tenants; name one with --tenant"),
    }
}

fn list(path: &Path, tenant: Option<&str>) -> anyhow::Result<ExitCode> {
    let (_, store) = open(path)?;
    let mut out = std::io::stdout().lock();
    for entry in store.list(tenant)? {
        writeln!(out, "{}", entry.to_json())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What an import did.
#[derive(Debug, Default)]
struct Tally {
    inserted: usize,
    kept: usize,
    replaced: usize,
    conflicts: usize,
}

impl Tally {
    fn add(&mut self, entry: &Entry, written: Written) {
        match written {
            Written::Inserted => self.inserted += 1,
            Written::Kept => self.kept += 1,
            Written::Replaced => self.replaced += 1,
            Written::Conflict(stored) => {
                self.conflicts += 1;
                eprintln!(
                    "conflict: `{}` on tenant `{}` is stored as {} ({:?}); the import says {}",
                    entry.client_id,
                    entry.tenant,
                    describe_state(stored.state()),
                    stored.origin,
                    describe_state(entry.state())
                );
            }
        }
    }

    fn report(&self) -> String {
        format!(
            "{} new, {} already known, {} replaced, {} conflicts",
            self.inserted, self.kept, self.replaced, self.conflicts
        )
    }
}

fn describe_state(state: ClientState) -> String {
    match (state.is_first_party, state.mode) {
        (true, _) => "first-party".into(),
        (false, Some(mode)) => format!("third-party {}", mode.as_str()),
        (false, None) => "third-party".into(),
    }
}

/// `import --from FILE`: entries keep their origin, so a store moved keeps what it knew.
fn import_file(path: &Path, file: &Path) -> anyhow::Result<ExitCode> {
    let (config, store) = open(path)?;
    let tenants: Vec<&str> = config.tenants.list.iter().map(|t| t.policy.id.as_str()).collect();
    let reader = std::io::BufReader::new(std::fs::File::open(file).with_context(|| file.display().to_string())?);
    let mut tally = Tally::default();
    for (number, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{} line {}", file.display(), number + 1);
        let entry = match serde_json::from_str::<Entry>(&line) {
            Ok(entry) if !tenants.contains(&entry.tenant.as_str()) => {
                Err(anyhow!("{at}: tenant `{}` is not in {}", entry.tenant, path.display()))
            }
            Ok(entry) if !Entry::storable_id(&entry.client_id) => {
                Err(anyhow!("{at}: the client id is empty, too long or holds control characters"))
            }
            Ok(entry) => Ok(entry),
            Err(e) => Err(anyhow!("{at}: not an entry ({e})")),
        };
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                eprintln!("stopped; imported before it: {}", tally.report());
                return Err(e);
            }
        };
        let written = store.put(&entry)?;
        tally.add(&entry, written);
    }
    eprintln!("imported into {}: {}", store.describe(), tally.report());
    Ok(if tally.conflicts > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
}

/// Clients per page asked of the upstream (the Management API's maximum).
const PER_PAGE: usize = 100;

/// `import --tenant ID`: pages through the upstream's clients. The next page to read is
/// kept in a checkpoint file beside the configuration, so an interrupted import resumes
/// where it stopped; entries already written are simply found again (`kept`).
fn import_upstream(path: &Path, tenant_id: &str) -> anyhow::Result<ExitCode> {
    let (config, store) = open(path)?;
    let tenant = config
        .tenants
        .list
        .iter()
        .find(|t| t.policy.id == tenant_id)
        .cloned()
        .ok_or_else(|| anyhow!("no tenant `{tenant_id}` in {}", path.display()))?;
    let checkpoint = path.with_file_name(format!(".modegate-import-{tenant_id}.page"));
    // resume one page early: clients deleted meanwhile shift the pages (writes are idempotent)
    let first_page: usize = std::fs::read_to_string(&checkpoint)
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .map_or(0, |page| page.saturating_sub(1));
    if first_page > 0 {
        eprintln!("resuming at page {first_page} ({})", checkpoint.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let side = SideClient::new(config.upstream.ca_file.as_deref());
    let host = tenant.policy.hosts.first().cloned().unwrap_or_default();
    let endpoint = Endpoint::upstream(&config.upstream, &host);
    let (token, _) = runtime.block_on(crate::management::fetch_token(&side, &tenant, &config.upstream, true))?;
    let authorization = format!("Bearer {token}");
    let fields = "client_id,is_first_party,third_party_security_mode";
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} clients {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut tally = Tally::default();
    let mut page = first_page;
    loop {
        let query = format!(
            "/api/v2/clients?fields={fields}&include_fields=true&page={page}&per_page={PER_PAGE}&include_totals=true"
        );
        let headers = [("accept", "application/json"), ("authorization", authorization.as_str())];
        let answer = runtime.block_on(side.get(&endpoint, &query, &headers))?;
        if answer.status != 200 {
            bail!("the upstream answered {} to page {page}: {}", answer.status, String::from_utf8_lossy(&answer.body));
        }
        let document: serde_json::Value =
            serde_json::from_slice(&answer.body).context("the upstream's page is not JSON")?;
        // `include_totals=true` answers `{clients, total}`; anything else is not this API
        let clients = document
            .get("clients")
            .and_then(|c| c.as_array())
            .cloned()
            .ok_or_else(|| anyhow!("page {page} has no `clients` list: is the upstream the Management API?"))?;
        let total = document.get("total").and_then(serde_json::Value::as_u64);
        for client in &clients {
            let (Some(id), Some(state)) =
                (client.get("client_id").and_then(|v| v.as_str()), ClientState::from_document(client))
            else {
                let id = client.get("client_id").and_then(|v| v.as_str()).unwrap_or("(no client_id)");
                eprintln!("skipped `{id}`: the page does not describe its ownership or mode");
                continue;
            };
            if !Entry::storable_id(id) {
                eprintln!("skipped a client id that is too long or holds control characters");
                continue;
            }
            let entry = Entry::new(tenant_id, id, state, Origin::Import);
            let written = store.put(&entry)?;
            tally.add(&entry, written);
        }
        page += 1;
        std::fs::write(&checkpoint, page.to_string()).with_context(|| checkpoint.display().to_string())?;
        let done = (page * PER_PAGE) as u64;
        let shown = total.map_or(done, |t| done.min(t));
        let shown_total = total.map_or_else(|| "?".to_owned(), |t| t.to_string());
        match &progress {
            Some(bar) => {
                bar.set_length(total.unwrap_or(done));
                bar.set_position(shown);
                bar.set_message(tally.report());
            }
            None => eprintln!("page {page}: {shown}/{shown_total} clients; {}", tally.report()),
        }
        // a short page is the last; the total, when given, says so too
        if clients.len() < PER_PAGE || total.is_some_and(|t| done >= t) {
            break;
        }
    }
    if let Some(bar) = progress {
        bar.finish();
    }
    let _ = std::fs::remove_file(&checkpoint);
    eprintln!("imported tenant `{tenant_id}` into {}: {}", store.describe(), tally.report());
    Ok(if tally.conflicts > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
}
