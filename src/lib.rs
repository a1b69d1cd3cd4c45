//! modegate: a Pingora gateway that enforces third-party application security modes in
//! front of an Auth0-style authorization server.
//!
//! # Layout
//!
//! - [`policy`]: the pure core. Facts in, decision out; no Pingora, Tokio or I/O.
//! - [`config`]: the TOML file, validated in full into plain model types.
//! - [`tenant`]: where tenants come from, behind one small interface.
//! - [`identity`]: bearer-token verification (pure) and the tenants' key cache.
//! - [`clients`]: what is known of existing clients' modes (prefix, cache, lookup).
//! - [`upstream`]: the gateway's own side requests to the upstream (keys, lookups).
//! - [`proxy`]: the Pingora glue, phase by phase, calling `policy`.
//! - [`admin`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`telemetry`]: metric definitions and the decision log.
//! - [`reload`]: SIGHUP, `POST /-/reload` and file changes swap the configuration.
//! - [`demo`]: `modegate demo` and the reference authorization server it fronts (not the product).
//! - [`app`]: assembles the Pingora server from a configuration.
//! - [`cli`]: `run`, `check`, `decide`.
//!
//! # A request's path
//!
//! `proxy::request_filter` builds a [`policy::RequestHead`] and starts a
//! [`policy::Pipeline`], then answers what it asks for (the tenant, the token, the body read
//! whole, the client's state) until it ends: forward the original bytes, forward them with
//! members appended, or answer with the upstream's own error shape. Only then is the
//! upstream contacted.

pub mod admin;
pub mod app;
pub mod cli;
pub mod clients;
pub mod config;
pub mod demo;
pub mod heap;
pub mod identity;
pub mod listen;
pub mod management;
pub mod policy;
pub mod proxy;
pub mod ratelimit;
pub mod registry;
pub mod reload;
pub mod telemetry;
pub mod tenant;
pub mod upstream;
