//! Test support: the real binary, a recording upstream, a raw HTTP client.

pub mod gateway;
pub mod http;
pub mod pki;
pub mod redis;
pub mod reference;
pub mod tokens;
pub mod upstream;

pub use gateway::{Gateway, free_addr};

pub use http::{Client, Message, auth_line, request, status};
pub use upstream::Upstream;

pub const JSON: (&str, &str) = ("Content-Type", "application/json");
