//! Intercepted bodies (SPEC §3–§4): read whole before the upstream is contacted (bounded in
//! size and time), decided, and either answered or handed to the phases that replay the
//! decided bytes. A `clients_update` learns what it needs of the client on the way. In
//! shadow mode the body is observed as it streams past and the decision only recorded.
//!
//! INVARIANT (no upstream byte before decision): see `proxy`.

use bytes::Bytes;
use pingora::prelude::*;
use pingora::proxy::Session;

use super::capture::creation_capture;
use super::record::RecordParts;
use super::{Ctx, Gateway, convert, respond};
use crate::clients::Lookup;
use crate::config::{Config, Tenant};
use crate::policy::{self, Api, Classification, CurrentClient, Decision, Outcome, ReasonCode, Rejection, RouteId};

/// Shadow mode: the body as it streams past, up to the size limit.
pub struct Observed {
    route: RouteId,
    body: Vec<u8>,
    overflow: bool,
}

impl Observed {
    pub fn new(route: RouteId) -> Self {
        Observed { route, body: Vec::new(), overflow: false }
    }
}

impl Gateway {
    /// An intercepted route: the token where one is needed (SPEC §6), then the body, read
    /// and decided now (`enforce`) or observed as it streams (`shadow`).
    pub(super) async fn intercept(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        config: &Config,
        tenant: &Tenant,
        route: RouteId,
        shadow: bool,
    ) -> Result<bool> {
        if policy::needs_token(route, &tenant.policy) {
            match self.tokens.authorize(&session.req_header().headers, config, tenant, route).await {
                Ok(claims) => ctx.claims = Some(claims),
                Err(rejection) if shadow => ctx.record = Some(RecordParts::of_rejection(&rejection, true)),
                Err(rejection) => return self.refuse(session, ctx, &rejection, false).await,
            }
        }
        if shadow {
            ctx.observed = Some(Observed::new(route));
            return Ok(false);
        }
        self.read_and_decide(session, ctx, config, tenant, route).await
    }

    /// SPEC §4 clients_update: the client's current state; `Ok(None)` when the upstream
    /// does not know the client; `Err` to fail closed (503).
    pub(super) async fn current_client(
        &self,
        session: &Session,
        config: &Config,
        tenant: &Tenant,
    ) -> Result<Option<CurrentClient>, Rejection> {
        let (host, client_id, authorization) = lookup_parts(session, config)?;
        match self.clients.current(tenant, &config.upstream, &host, &client_id, authorization).await {
            Ok(Lookup::Known(state)) => Ok(Some(CurrentClient::of_state(state))),
            Ok(Lookup::NotFound) => Ok(None),
            Err(e) => Err(respond::lookup_failed(&e.to_string())),
        }
    }

    /// SPEC §3–§4: the rule of `route` on the whole body. A `clients_update` learns the
    /// client's state first and, when the first decision would forward a change to the
    /// members the strict profile combines, their current values (never cached), and
    /// decides again with them.
    pub(super) async fn decide_body(
        &self,
        session: &Session,
        config: &Config,
        tenant: &Tenant,
        route: RouteId,
        body: &[u8],
    ) -> Result<(Decision, Option<policy::JsonObject>), Rejection> {
        let replace = session.req_header().method == http::Method::PUT;
        let current = match route {
            RouteId::ClientsUpdate => self.current_client(session, config, tenant).await?,
            _ => None,
        };
        let decide = |current: Option<&CurrentClient>| {
            policy::decide(route, body, &tenant.policy, &config.policy, convert::today(), current, replace)
        };
        let (decision, object) = decide(current.as_ref());
        let (Some(current), Some(parsed)) = (&current, &object) else { return Ok((decision, object)) };
        let forwards = !matches!(decision.outcome, Outcome::Reject(_));
        if !(forwards && policy::rules::clients_update::needs_current_members(parsed, current, replace)) {
            return Ok((decision, object));
        }
        let (host, client_id, authorization) = lookup_parts(session, config)?;
        match self.clients.combined_members(&config.upstream, &host, &client_id, authorization).await {
            Ok(Some(members)) => Ok(decide(Some(&CurrentClient { state: current.state, members }))),
            Ok(None) => Ok(decide(None)),
            Err(e) => Err(respond::lookup_failed(&e.to_string())),
        }
    }

    /// Refuses the request now; `body_read` keeps the connection open for the next request.
    pub(super) async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        rejection: &Rejection,
        body_read: bool,
    ) -> Result<bool> {
        let api = ctx.target.as_ref().map_or(Api::Management, Classification::api);
        ctx.record = Some(RecordParts::of_rejection(rejection, false));
        respond::reject(session, rejection, api, !body_read).await?;
        Ok(true)
    }

    /// SPEC §3: reads the whole body (bounded in size and time), decides, and either
    /// answers or leaves the bytes to send upstream in `ctx`.
    pub(super) async fn read_and_decide(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        config: &Config,
        tenant: &Tenant,
        route: RouteId,
    ) -> Result<bool> {
        if convert::expects_continue(session.req_header()) {
            // the client waits for this before sending the body we need to decide
            session.write_continue_response().await?;
        }
        // Pingora replays this buffer to the upstream after connecting; request_body_filter
        // swaps in `ctx.upstream_body`, so a retry can only ever send the decided bytes.
        session.enable_retry_buffering();
        let max = config.server.max_body_bytes;
        let read = tokio::time::timeout(config.server.body_read_timeout, async {
            let mut body = Vec::new();
            while let Some(chunk) = session.read_request_body().await? {
                if body.len() + chunk.len() > max {
                    return Ok::<_, Box<Error>>(None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Some(body))
        })
        .await;
        let body = match read {
            Err(_elapsed) => return self.refuse(session, ctx, &policy::body_timeout(), false).await,
            Ok(Err(e)) => match e.etype() {
                // the client is gone: nobody to answer
                ErrorType::ReadError | ErrorType::ConnectionClosed | ErrorType::WriteError => return Err(e),
                ErrorType::ReadTimedout => return self.refuse(session, ctx, &policy::body_timeout(), false).await,
                _ => {
                    let malformed =
                        Rejection::invalid_request(ReasonCode::MalformedRequest, "the request body is not well framed");
                    return self.refuse(session, ctx, &malformed, false).await;
                }
            },
            Ok(Ok(None)) => return self.refuse(session, ctx, &policy::too_large(max), false).await,
            Ok(Ok(Some(body))) => body,
        };
        let (decision, object) = match self.decide_body(session, config, tenant, route, &body).await {
            Ok(decided) => decided,
            Err(rejection) => return self.refuse(session, ctx, &rejection, true).await,
        };
        ctx.record = Some(RecordParts::of_decision(&decision, false));
        ctx.capture = creation_capture(route, &decision);
        match decision.upstream_body(&body, object.as_ref()) {
            Some(upstream) => {
                ctx.upstream_body = Some(Bytes::from(upstream.into_owned()));
                Ok(false)
            }
            None => {
                let Outcome::Reject(rejection) = &decision.outcome else {
                    return self.refuse(session, ctx, &respond::internal(), true).await;
                };
                respond::reject(session, rejection, route.api(), false).await?;
                Ok(true)
            }
        }
    }

    pub(super) async fn observe_end(&self, session: &Session, ctx: &mut Ctx) {
        let (Some(observed), Some(config), Some(tenant)) =
            (ctx.observed.take(), ctx.config.clone(), ctx.tenant.clone())
        else {
            return;
        };
        if ctx.record.is_some() {
            // already a would-be rejection (the token)
            return;
        }
        if observed.overflow {
            ctx.record = Some(RecordParts::of_rejection(&policy::too_large(config.server.max_body_bytes), true));
            return;
        }
        ctx.record = Some(match self.decide_body(session, &config, &tenant, observed.route, &observed.body).await {
            Ok((decision, _)) => RecordParts::of_decision(&decision, true),
            Err(rejection) => RecordParts::of_rejection(&rejection, true),
        });
    }

    /// Shadow mode: a chunk of the streamed body; at its end, the would-be decision.
    pub(super) async fn observe_chunk(&self, session: &Session, ctx: &mut Ctx, body: &Option<Bytes>, end: bool) {
        let max = ctx.config.as_ref().map_or(0, |c| c.server.max_body_bytes);
        let Some(observed) = &mut ctx.observed else { return };
        if let Some(chunk) = body.as_ref() {
            if observed.body.len() + chunk.len() > max {
                observed.overflow = true;
                observed.body = Vec::new();
            } else if !observed.overflow {
                observed.body.extend_from_slice(chunk);
            }
        }
        if end {
            self.observe_end(session, ctx).await;
        }
    }
}

/// What a client lookup needs from the request: the tenant host, the client id of the
/// path and the caller's own `Authorization`.
fn lookup_parts<'a>(session: &'a Session, config: &Config) -> Result<(String, String, Option<&'a str>), Rejection> {
    let header = session.req_header();
    let head = convert::request_head(header, false);
    let client_id = head
        .path()
        .and_then(policy::route::client_id)
        .ok_or_else(|| respond::lookup_failed("no client id in the path"))?;
    let host = policy::classify(&head, &config.policy.routes).ok().and_then(|target| target.host).unwrap_or_default();
    let authorization = header.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    Ok((host, client_id, authorization))
}
