//! Integration tests: the real `modegate` binary in front of a real recording upstream on
//! loopback. Every test asserts what the client got and what the upstream received.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod support;

mod adversarial;
mod cli;
mod client_grants;
mod clients_create;
mod clients_update;
mod dcr;
mod demo;
mod differential;
mod enforcement;
mod faults;
mod observability;
mod one_reading;
mod operations;
mod passthrough;
mod policy_source;
mod registry;
mod reload;
mod runtime;
mod tenant_settings;
mod tls;
mod tokens;
