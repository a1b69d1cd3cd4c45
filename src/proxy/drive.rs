//! The proxy's driver of the policy [`Pipeline`]: each need answered with I/O (the tenant
//! source, the token verifier, the request body, the client lookups), each end applied to
//! the session. Intercepted bodies are read whole before the upstream is contacted (bounded
//! in size and time); in shadow mode they are observed as they stream past and the
//! pipeline finishes once they have.
//!
//! INVARIANT (no upstream byte before decision): see `proxy`.

use std::sync::Arc;

use bytes::Bytes;
use pingora::prelude::*;
use pingora::proxy::Session;
use serde_json::{Map, Value};

use super::capture::Capture;
use super::{Ctx, Gateway, State, convert, head_deadline, respond};
use crate::clients::Lookup;
use crate::policy::{BodyFailure, ClientState, Pipeline, Step, TenantFailure, UpstreamBody};

/// Shadow mode: the body as it streams past, up to the size limit.
pub struct Observed {
    limit: usize,
    body: Vec<u8>,
    overflow: bool,
}

impl Gateway {
    /// Answers the pipeline's needs until it ends; `Ok(true)`: the request was answered.
    pub(super) async fn drive(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        state: &State,
        mut pipeline: Pipeline,
        mut step: Step,
    ) -> Result<bool> {
        loop {
            step = match step {
                Step::NeedTenant { host } => {
                    let found = self.find_tenant(ctx, state, &host).await;
                    pipeline.tenant(found)
                }
                Step::NeedAllowance { tenant, rate } if !self.dcr_limit.blocks() => {
                    let verdict = self.dcr_limit.check(&tenant, rate);
                    pipeline.allowance(verdict.map_err(|wait| wait.as_secs_f64().ceil() as u64))
                }
                Step::NeedAllowance { tenant, rate } => {
                    let limiter = Arc::clone(&self.dcr_limit);
                    let check = tokio::task::spawn_blocking(move || limiter.check(&tenant, rate));
                    // a check that fails or hangs counts as allowed: the limit protects, it must not break DCR
                    let verdict = match tokio::time::timeout(std::time::Duration::from_secs(1), check).await {
                        Ok(Ok(verdict)) => verdict,
                        _ => Ok(()),
                    };
                    pipeline.allowance(verdict.map_err(|wait| wait.as_secs_f64().ceil() as u64))
                }
                Step::NeedToken { scope, .. } => {
                    let verdict = self.authorize(session, ctx, scope).await;
                    pipeline.token(verdict)
                }
                Step::NeedBody { limit, observe: true } => {
                    ctx.observed = Some(Observed { limit, body: Vec::new(), overflow: false });
                    ctx.pipeline = Some(pipeline);
                    return Ok(false);
                }
                Step::NeedBody { limit, observe: false } => {
                    let body = read_body(session, ctx, limit).await?;
                    pipeline.body(body)
                }
                Step::NeedClient { id } => {
                    let found = self.client_state(session, ctx, &pipeline, &id).await;
                    pipeline.client(found)
                }
                Step::NeedClientMode { id, dcr_matters } => match (&ctx.config, &ctx.tenant) {
                    (Some(config), Some(tenant)) => {
                        let host = pipeline.host().unwrap_or_default();
                        let found = self.clients.runtime_client(tenant, &config.upstream, host, &id, dcr_matters).await;
                        pipeline.runtime_client(found)
                    }
                    _ => pipeline.internal_error(),
                },
                Step::NeedMembers { id } => {
                    let found = self.client_members(session, ctx, &pipeline, &id).await;
                    pipeline.members(found)
                }
                Step::Respond { rejection, record, body_read } => {
                    ctx.record = Some(record);
                    let api = pipeline.api();
                    ctx.pipeline = Some(pipeline);
                    respond::reject(session, &rejection, api, !body_read).await?;
                    return Ok(true);
                }
                Step::Forward { body, record, creation } => {
                    ctx.record = record;
                    ctx.capture = creation.map(Capture::new);
                    ctx.pipeline = Some(pipeline);
                    if let UpstreamBody::Decided(body) = body {
                        ctx.upstream_body = Some(Bytes::from(body));
                        if ctx.capture.is_some() {
                            if session.as_downstream().is_http2() {
                                // a reset stream would stop Pingora reading the answer
                                return self.exchange_h2_creation(session, ctx).await;
                            }
                            // the request is read whole: what the caller does next cannot
                            // stop its answer (a streamed body owes it at its end, `proxy`)
                            head_deadline::answer_owed(session.as_downstream().stream());
                        }
                    }
                    return Ok(false);
                }
            };
        }
    }

    /// Shadow mode: a chunk of the streamed body; at its end, the pipeline finishes.
    pub(super) async fn observe_chunk(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        chunk: &Option<Bytes>,
        end: bool,
    ) -> Result<()> {
        let Some(observed) = &mut ctx.observed else { return Ok(()) };
        if let Some(chunk) = chunk.as_ref() {
            if observed.body.len() + chunk.len() > observed.limit {
                observed.overflow = true;
                observed.body = Vec::new();
            } else if !observed.overflow {
                observed.body.extend_from_slice(chunk);
            }
        }
        if !end {
            return Ok(());
        }
        let (Some(observed), Some(mut pipeline), Some(state)) =
            (ctx.observed.take(), ctx.pipeline.take(), ctx.state.clone())
        else {
            return Ok(());
        };
        let Observed { body, overflow, .. } = observed;
        let step = pipeline.body(if overflow { Err(BodyFailure::TooLarge) } else { Ok(body) });
        if let Step::Respond { rejection, .. } = &step {
            // the request already streamed upstream: nothing can be answered now. The
            // pipeline never gets here (shadow mode ends in `Forward`); record it if it did.
            log::error!("shadow decision answered {} after the body streamed", rejection.status);
            ctx.record = Some(crate::policy::Record::of_error(&crate::policy::internal()));
            ctx.pipeline = Some(pipeline);
            return Ok(());
        }
        self.drive(session, ctx, &state, pipeline, step).await.map(|_| ())
    }

    async fn find_tenant(
        &self,
        ctx: &mut Ctx,
        state: &State,
        host: &str,
    ) -> Result<Option<Arc<crate::policy::inputs::TenantPolicy>>, TenantFailure> {
        match state.tenants.tenant_for_host(host).await {
            Ok(tenant) => {
                let policy = tenant.as_ref().map(|t| Arc::clone(&t.policy));
                ctx.tenant = tenant;
                Ok(policy)
            }
            Err(e) => {
                log::warn!("tenant source: {e}");
                Err(match e {
                    crate::tenant::SourceError::Unavailable(_) => TenantFailure::Unavailable,
                    crate::tenant::SourceError::Invalid(_) => TenantFailure::Invalid,
                })
            }
        }
    }

    /// SPEC §6: the caller's token, verified for the tenant with the route's scope.
    async fn authorize(&self, session: &Session, ctx: &mut Ctx, scope: &str) -> Result<(), crate::policy::Rejection> {
        let (Some(config), Some(tenant)) = (ctx.config.clone(), ctx.tenant.clone()) else {
            return Err(crate::policy::internal());
        };
        let claims = self.tokens.authorize(&session.req_header().headers, &config, &tenant, scope).await?;
        ctx.claims = Some(claims);
        Ok(())
    }

    /// SPEC §4 clients_update, §12: the client's state; `Ok(None)` when the upstream does
    /// not know it; `Err` to fail closed.
    async fn client_state(
        &self,
        session: &Session,
        ctx: &Ctx,
        pipeline: &Pipeline,
        client_id: &str,
    ) -> Result<Option<ClientState>, ()> {
        let (Some(config), Some(tenant)) = (&ctx.config, &ctx.tenant) else { return Err(()) };
        let host = pipeline.host().unwrap_or_default();
        let lookup = self
            .clients
            .current(tenant, &config.upstream, host, client_id, authorization(session))
            .await
            .map_err(|e| log::warn!("clients_update: {e}"))?;
        Ok(match lookup {
            Lookup::Known(state) => Some(state),
            Lookup::NotFound => None,
        })
    }

    /// The client's current combined members, asked of the upstream every time.
    async fn client_members(
        &self,
        session: &Session,
        ctx: &Ctx,
        pipeline: &Pipeline,
        client_id: &str,
    ) -> Result<Option<Map<String, Value>>, ()> {
        let Some(config) = &ctx.config else { return Err(()) };
        let host = pipeline.host().unwrap_or_default();
        self.clients
            .combined_members(&config.upstream, host, client_id, authorization(session))
            .await
            .map_err(|e| log::warn!("clients_update: {e}"))
    }
}

/// The caller's own `Authorization`, sent with a client lookup.
fn authorization(session: &Session) -> Option<&str> {
    session.req_header().headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// SPEC §3: the whole body, at most `limit` bytes, within the body timeout. `Err` only
/// when the client is gone (nobody to answer).
async fn read_body(session: &mut Session, ctx: &Ctx, limit: usize) -> Result<Result<Vec<u8>, BodyFailure>> {
    if convert::expects_continue(session.req_header()) {
        // the client waits for this before sending the body we need to decide
        session.write_continue_response().await?;
    }
    // Pingora replays this buffer to the upstream after connecting; request_body_filter
    // swaps in `ctx.upstream_body`, so a retry can only ever send the decided bytes.
    session.enable_retry_buffering();
    let timeout = ctx.config.as_ref().map_or(std::time::Duration::ZERO, |c| c.server.body_read_timeout);
    let read = tokio::time::timeout(timeout, async {
        let mut body = Vec::new();
        while let Some(chunk) = session.read_request_body().await? {
            if body.len() + chunk.len() > limit {
                return Ok::<_, Box<Error>>(Err(BodyFailure::TooLarge));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Ok(body))
    })
    .await;
    match read {
        Err(_elapsed) => Ok(Err(BodyFailure::Timeout)),
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => match e.etype() {
            // the client is gone: nobody to answer
            ErrorType::ReadError | ErrorType::WriteError => Err(e),
            // the body ended before its framing said (a half-closed client can still read
            // the answer): a malformed request, not a gateway fault
            ErrorType::ConnectionClosed => Ok(Err(BodyFailure::Malformed)),
            ErrorType::ReadTimedout => Ok(Err(BodyFailure::Timeout)),
            _ => Ok(Err(BodyFailure::Malformed)),
        },
    }
}
