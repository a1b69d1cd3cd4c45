//! The intercepted routes of SPEC §2 and the error dialect each answers in (SPEC §7).

/// The intercepted routes of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    ClientsCreate,
    ClientsUpdate,
    TenantSettingsUpdate,
    ClientGrantsCreate,
    DcrRegister,
}

impl RouteId {
    pub const ALL: [RouteId; 5] = [
        RouteId::ClientsCreate,
        RouteId::ClientsUpdate,
        RouteId::TenantSettingsUpdate,
        RouteId::ClientGrantsCreate,
        RouteId::DcrRegister,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RouteId::ClientsCreate => "clients_create",
            RouteId::ClientsUpdate => "clients_update",
            RouteId::TenantSettingsUpdate => "tenant_settings_update",
            RouteId::ClientGrantsCreate => "client_grants_create",
            RouteId::DcrRegister => "dcr_register",
        }
    }

    /// The scope a bearer token needs on this route (SPEC §6, any of one).
    pub fn required_scope(self) -> &'static str {
        match self {
            RouteId::ClientsCreate | RouteId::DcrRegister => "create:clients",
            RouteId::ClientsUpdate => "update:clients",
            RouteId::TenantSettingsUpdate => "update:tenant_settings",
            RouteId::ClientGrantsCreate => "create:client_grants",
        }
    }

    /// Which error shape the route answers with (SPEC §7).
    pub fn api(self) -> Api {
        match self {
            RouteId::DcrRegister => Api::Dcr,
            _ => Api::Management,
        }
    }
}

/// The two error dialects of SPEC §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `{"statusCode","error","message","errorCode"}`, as the Management API answers.
    Management,
    /// `{"error","error_description"}`, as RFC 7591 §3.2.2 prescribes.
    Dcr,
}
