//! The intercepted routes of SPEC §2 and §13, and the error dialect each answers in
//! (SPEC §7, §13).

/// The intercepted routes: the body routes of SPEC §2 and the runtime routes of SPEC §13.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    ClientsCreate,
    ClientsUpdate,
    TenantSettingsUpdate,
    ClientGrantsCreate,
    DcrRegister,
    /// `GET`/`POST /authorize` (SPEC §13).
    Authorize,
    /// `POST /oauth/token`.
    Token,
    /// The legacy endpoints strict clients may not use.
    Legacy,
}

impl RouteId {
    /// The body routes (SPEC §2–§5), whose bodies are one JSON object.
    pub const ALL: [RouteId; 5] = [
        RouteId::ClientsCreate,
        RouteId::ClientsUpdate,
        RouteId::TenantSettingsUpdate,
        RouteId::ClientGrantsCreate,
        RouteId::DcrRegister,
    ];

    /// Every intercepted route, body routes then runtime routes.
    pub const EVERY: [RouteId; 8] = [
        RouteId::ClientsCreate,
        RouteId::ClientsUpdate,
        RouteId::TenantSettingsUpdate,
        RouteId::ClientGrantsCreate,
        RouteId::DcrRegister,
        RouteId::Authorize,
        RouteId::Token,
        RouteId::Legacy,
    ];

    /// The runtime routes of SPEC §13: the client is identified and, when strict, held to
    /// the strict rules; bodies are forms (or JSON on legacy routes).
    pub fn is_runtime(self) -> bool {
        matches!(self, RouteId::Authorize | RouteId::Token | RouteId::Legacy)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteId::ClientsCreate => "clients_create",
            RouteId::ClientsUpdate => "clients_update",
            RouteId::TenantSettingsUpdate => "tenant_settings_update",
            RouteId::ClientGrantsCreate => "client_grants_create",
            RouteId::DcrRegister => "dcr_register",
            RouteId::Authorize => "authorize",
            RouteId::Token => "token",
            RouteId::Legacy => "legacy",
        }
    }

    /// The scope a bearer token needs on this route (SPEC §6, any of one).
    pub fn required_scope(self) -> &'static str {
        match self {
            RouteId::ClientsCreate | RouteId::DcrRegister => "create:clients",
            RouteId::ClientsUpdate => "update:clients",
            RouteId::TenantSettingsUpdate => "update:tenant_settings",
            RouteId::ClientGrantsCreate => "create:client_grants",
            // the runtime routes carry the caller's own credentials, checked upstream
            RouteId::Authorize | RouteId::Token | RouteId::Legacy => "",
        }
    }

    /// Which error shape the route answers with (SPEC §7).
    pub fn api(self) -> Api {
        match self {
            RouteId::DcrRegister => Api::Dcr,
            RouteId::Token | RouteId::Legacy => Api::OAuth,
            RouteId::Authorize => Api::Authorize { json: false },
            _ => Api::Management,
        }
    }
}

/// The error dialects of SPEC §7 and §13.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `{"statusCode","error","message","errorCode"}`, as the Management API answers.
    Management,
    /// `{"error","error_description"}`, as RFC 7591 §3.2.2 prescribes.
    Dcr,
    /// RFC 6749 §5.2 `{"error","error_description"}` with `Cache-Control: no-store`.
    OAuth,
    /// A 400 HTML page naming the problem, never a redirect; the JSON form of `OAuth` when
    /// the request accepts `application/json` (`json`).
    Authorize { json: bool },
}
