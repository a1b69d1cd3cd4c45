//! `modegate demo` (SPEC §10): the gateway in front of the built-in reference authorization
//! server on loopback, with `config/demo.toml`, printing what to try. Runs until Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;

use crate::app::{self, RunOptions};
use crate::config;
use crate::listen::PortReservations;
pub mod reference;

use reference::{MANAGEMENT_SCOPES, ReferenceServer, ReferenceTenant};

/// The demo's default files.
pub const CONFIG: &str = "config/demo.toml";
pub const SIGNING_KEY: &str = "config/demo/reference-signing-key.pem";

/// A Pingora service serving the reference server on `listen` (port 0: a port reserved in
/// `ports`, which the caller keeps for the life of the server).
pub fn reference_service(
    server: ReferenceServer,
    listen: SocketAddr,
    ports: &PortReservations,
    tls: Option<(&str, &str)>,
) -> anyhow::Result<(pingora::services::listening::Service<ReferenceServer>, SocketAddr)> {
    let mut service = pingora::services::listening::Service::new("reference server".to_owned(), server);
    let bound = ports.reserve(listen)?;
    let options = ports.socket_options(bound);
    match tls {
        Some((cert, key)) => {
            let settings = pingora::listeners::tls::TlsSettings::intermediate(cert, key)
                .map_err(|e| anyhow::anyhow!("reference TLS: {e}"))?;
            service.add_tls_with_settings(&bound.to_string(), Some(options), settings);
        }
        None => service.add_tcp_with_settings(&bound.to_string(), options),
    }
    Ok((service, bound))
}

pub fn run(config_path: &Path, key_path: &Path) -> anyhow::Result<()> {
    let (config, _warnings) = config::load_to_serve(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pem = std::fs::read(key_path).map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?;
    let hosts: Vec<String> = config.tenants.list.iter().flat_map(|t| t.policy.hosts.clone()).collect();
    let tenants: Vec<ReferenceTenant> = hosts.iter().map(|h| ReferenceTenant::demo(h)).collect();
    let reference = ReferenceServer::new(&pem, &tenants)?;
    let token = |host: &str| reference.issue_token(host, "demo-m2m", MANAGEMENT_SCOPES);
    let (globex, acme) = (token("globex.example.test")?, token("acme.example.test")?);
    let upstream = config.upstream.address;
    let gateway = config.server.listen.first().map_or_else(|| "127.0.0.1:8080".to_owned(), ToString::to_string);
    let admin = config.server.admin_listen;

    let mut app = app::server(config, RunOptions { config_path: config_path.to_owned(), upgrade: false })?;
    let ports = PortReservations::default();
    let (service, _) = reference_service(reference, upstream, &ports, None)?;
    app.server.add_service(service);
    app.server.add_service(pingora::services::background::background_service("reference port reservations", ports));
    println!("{}", banner(&gateway, &upstream.to_string(), &admin.to_string(), &globex, &acme));
    app.run_forever()
}

fn banner(gateway: &str, upstream: &str, admin: &str, globex: &str, acme: &str) -> String {
    format!(
        r#"
modegate demo
  gateway            http://{gateway}
  reference server   http://{upstream}   (a legacy authorization server: it knows no security modes)
  admin              http://{admin}/metrics

Tenants: acme.example.test (eligible customer), globex.example.test (strict only),
initech.example.test (strict, no default API permissions). Each has the management client
demo-m2m / demo-secret. Ready tokens (24 h, every Management API scope):

  export GLOBEX_TOKEN={globex}
  export ACME_TOKEN={acme}

1. A third-party client without a mode gets strict injected (the reference server stores it):
  curl -s http://{gateway}/api/v2/clients -H 'Host: globex.example.test' -H "Authorization: Bearer $GLOBEX_TOKEN" \
    -H 'Content-Type: application/json' -d '{{"name":"tool","is_first_party":false}}'

2. Permissive is refused for a customer that is not eligible (400, nothing reaches the server):
  curl -s http://{gateway}/api/v2/clients -H 'Host: globex.example.test' -H "Authorization: Bearer $GLOBEX_TOKEN" \
    -H 'Content-Type: application/json' -d '{{"name":"tool","is_first_party":false,"third_party_security_mode":"permissive"}}'

3. ... and allowed for an eligible one:
  curl -s http://{gateway}/api/v2/clients -H 'Host: acme.example.test' -H "Authorization: Bearer $ACME_TOKEN" \
    -H 'Content-Type: application/json' -d '{{"name":"legacy","is_first_party":false,"third_party_security_mode":"permissive"}}'

4. Strict dynamic registration is refused while the tenant has no default API permissions (403):
  curl -s http://{gateway}/oidc/register -H 'Host: initech.example.test' \
    -H 'Content-Type: application/json' -d '{{"client_name":"agent","redirect_uris":["https://agent.example/cb"]}}'

5. Without a token the Management API is closed (401), and a token comes from /oauth/token as usual:
  curl -s http://{gateway}/api/v2/clients -H 'Host: globex.example.test' -H 'Content-Type: application/json' -d '{{}}'
  curl -s http://{gateway}/oauth/token -H 'Host: globex.example.test' -H 'Content-Type: application/json' \
    -d '{{"grant_type":"client_credentials","client_id":"demo-m2m","client_secret":"demo-secret","audience":"https://globex.example.test/api/v2/"}}'

6. At runtime a strict client may not use the implicit flow (400 and a page, never a redirect):
  curl -s 'http://{gateway}/authorize?client_id=tpc_demo&response_type=token&redirect_uri=https://app.example/cb' \
    -H 'Host: globex.example.test'

7. ... while a permissive client's identical request reaches the server (registered through acme's DCR):
  ID=$(curl -s http://{gateway}/oidc/register -H 'Host: acme.example.test' -H 'Content-Type: application/json' \
    -d '{{"redirect_uris":["https://app.example/cb"]}}' | sed -E 's/.*"client_id":"([^"]+)".*/\1/') && \
  curl -s "http://{gateway}/authorize?client_id=$ID&response_type=token&redirect_uri=https://app.example/cb" \
    -H 'Host: acme.example.test'

8. What the gateway decided:
  curl -s http://{admin}/metrics | grep modegate_requests_total

The decision log follows below, one JSON line per intercepted request. Ctrl-C stops.
"#
    )
}
