//! Where tenants come from. The proxy asks a [`TenantSource`] for the tenant of a host and
//! does not know whether the answer came from the file ([`InlineSource`]) or from a policy
//! service ([`http::HttpSource`]).

pub mod http;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{Tenant, Tenants};

/// Why a source could not answer; the proxy fails closed (503) on intercepted routes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("the tenant source is unavailable: {0}")]
    Unavailable(String),
    /// The source answered a document the gateway refuses (503 `policy_invalid`).
    #[error("the tenant source answered a document that is refused: {0}")]
    Invalid(String),
}

#[async_trait]
pub trait TenantSource: Send + Sync {
    /// The tenant that owns `host` (already normalised), or `None` when no tenant does.
    async fn tenant_for_host(&self, host: &str) -> Result<Option<Arc<Tenant>>, SourceError>;

    /// Whether the source has answered once (`/readyz`).
    fn is_ready(&self) -> bool {
        true
    }
}

/// The `[[tenants]]` of the configuration file.
#[derive(Debug, Clone)]
pub struct InlineSource {
    tenants: Tenants,
}

impl InlineSource {
    pub fn new(tenants: Tenants) -> Self {
        InlineSource { tenants }
    }
}

#[async_trait]
impl TenantSource for InlineSource {
    async fn tenant_for_host(&self, host: &str) -> Result<Option<Arc<Tenant>>, SourceError> {
        Ok(self.tenants.by_host(host).cloned())
    }
}
