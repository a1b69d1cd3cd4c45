use super::*;

#[test]
fn normalises_paths() {
    let cases = [
        ("/", "/"),
        ("/api/v2/clients", "/api/v2/clients"),
        ("/API/V2/CLIENTS/", "/api/v2/clients"),
        ("//api///v2//clients//", "/api/v2/clients"),
        ("/api/./v2/clients/.", "/api/v2/clients"),
        ("/api/x/../v2/clients", "/api/v2/clients"),
        ("/api/v2/%63lients", "/api/v2/clients"),
        ("/api/v2/%2e%2e/v2/clients", "/api/v2/clients"),
        ("/a/%C3%A9", "/a/é"),
    ];
    for (raw, expected) in cases {
        assert_eq!(normalise(raw).as_deref(), Ok(expected), "{raw}");
    }
}

#[test]
fn refuses_hazards() {
    let cases = [
        ("/api/v2%2fclients", PathHazard::EncodedSeparator),
        ("/api/v2%5Cclients", PathHazard::Backslash),
        ("/api\\v2/clients", PathHazard::Backslash),
        ("/api/v2/clients;a=b", PathHazard::Parameter),
        ("/api/v2/clients%3b", PathHazard::Parameter),
        ("/api/v2/clients%252f", PathHazard::DoubleEncoding),
        ("/api/v2/clients%00", PathHazard::Nul),
        ("/api/v2/clients%ff", PathHazard::NotUtf8),
        ("/api/v2/clients%3F", PathHazard::QueryOrFragment),
        ("/api/v2/clients%23", PathHazard::QueryOrFragment),
        ("/..", PathHazard::AboveRoot),
        ("/a/../../api/v2/clients", PathHazard::AboveRoot),
        ("api/v2/clients", PathHazard::NotAbsolute),
        ("*", PathHazard::NotAbsolute),
    ];
    for (raw, hazard) in cases {
        assert_eq!(normalise(raw), Err(hazard), "{raw}");
    }
}

#[test]
fn classifies_routes() {
    let table = RouteTable::new(vec!["/reg".into()]);
    let cases = [
        ("POST", "/api/v2/clients", Some(RouteId::ClientsCreate)),
        ("post", "/api/v2/clients", Some(RouteId::ClientsCreate)),
        ("GET", "/api/v2/clients", None),
        ("PATCH", "/api/v2/clients/abc", Some(RouteId::ClientsUpdate)),
        ("PUT", "/api/v2/clients/abc/", Some(RouteId::ClientsUpdate)),
        ("DELETE", "/api/v2/clients/abc", None),
        ("PATCH", "/api/v2/clients/abc/credentials", None),
        ("PATCH", "/api/v2/tenants/settings", Some(RouteId::TenantSettingsUpdate)),
        ("PUT", "/api/v2/tenants/settings", Some(RouteId::TenantSettingsUpdate)),
        ("POST", "/api/v2/client-grants", Some(RouteId::ClientGrantsCreate)),
        ("POST", "/oidc/register", Some(RouteId::DcrRegister)),
        ("POST", "/reg", Some(RouteId::DcrRegister)),
        ("POST", "/REG/", Some(RouteId::DcrRegister)),
        ("POST", "/register", None),
        ("POST", "/api/v2/clientsx", None),
    ];
    for (method, path, route) in cases {
        let expected = route.map_or(RouteMatch::Passthrough, RouteMatch::Intercepted);
        assert_eq!(table.classify(method, path, MethodHints::default()), expected, "{method} {path}");
    }
}

#[test]
fn hazards_are_refused_only_where_they_could_reach_a_protected_route() {
    let table = RouteTable::new(vec!["/reg".into()]);
    for path in
        ["/api/v2%2Fclients", "/x/..%2F..%2Fapi/v2/clients", "/..;/oidc/register", "/../api/v2", "/reg;x", "/API%5Cv2"]
    {
        assert!(matches!(table.classify("POST", path, MethodHints::default()), RouteMatch::Refused(_)), "{path}");
    }
    for path in ["/static/a%2Fb", "/files/..;/x", "/../public"] {
        assert_eq!(table.classify("POST", path, MethodHints::default()), RouteMatch::Passthrough, "{path}");
    }
}

#[test]
fn method_override_is_refused_only_under_protected_prefixes() {
    let table = RouteTable::default();
    assert!(matches!(
        table.classify("POST", "/api/v2/users", MethodHints { override_header: true, query: None }),
        RouteMatch::Refused(_)
    ));
    assert!(matches!(
        table.classify("GET", "/oidc", MethodHints { override_header: true, query: None }),
        RouteMatch::Refused(_)
    ));
    assert_eq!(
        table.classify("POST", "/authorize", MethodHints { override_header: true, query: None }),
        RouteMatch::Passthrough
    );
    assert_eq!(
        table.classify("POST", "/api/v22", MethodHints { override_header: true, query: None }),
        RouteMatch::Passthrough
    );
}

#[test]
fn reads_request_target_forms() {
    assert_eq!(target_form(b"/a/b?x=1#f"), TargetForm::Origin { path: b"/a/b" });
    assert_eq!(target_form(b"*"), TargetForm::Asterisk);
    assert_eq!(target_form(b"http://h.test:80/a?x"), TargetForm::Absolute { authority: "h.test:80", path: b"/a" });
    assert_eq!(target_form(b"HTTPS://h.test"), TargetForm::Absolute { authority: "h.test", path: b"/" });
    assert_eq!(target_form(b"http://h.test?q"), TargetForm::Absolute { authority: "h.test", path: b"/" });
    assert_eq!(target_form(b"x:/api/v2/clients"), TargetForm::Other);
    assert_eq!(target_form(b"api/v2/clients"), TargetForm::Other);
    assert_eq!(target_form(b"h.test:443"), TargetForm::Other);
    assert_eq!(target_form(b""), TargetForm::Other);
}

#[test]
fn raw_bytes_that_are_not_utf8_are_a_hazard() {
    assert_eq!(normalise(b"/api/v2/clients/\xC0\xAE".as_slice()), Err(PathHazard::NotUtf8));
    let table = RouteTable::default();
    assert!(matches!(
        table.classify("PATCH", b"/api/v2/clients/\xC0\xAE".as_slice(), MethodHints::default()),
        RouteMatch::Refused(_)
    ));
    assert_eq!(client_id("/api/v2/clients/AbC%5Fd"), Some("AbC_d".to_owned()));
    assert_eq!(client_id("/api/v2/clients/AbC%20d"), None, "a space is a hazard (SPEC §16)");
    assert_eq!(client_id("/API/v2/Clients/x/"), Some("x".to_owned()));
    assert_eq!(client_id("/api/v2/clients"), None);
}

/// SPEC §16 "Targets" and "Methods": every one of these has a second reading somewhere
/// that reaches an intercepted route, so each is refused with its reason.
#[test]
fn second_readings_of_protected_paths_are_refused() {
    let table = RouteTable::new(vec!["/reg".to_owned()]);
    let refused = |method: &str, target: &str| match table.classify(method, path_of(target), hints_of(target)) {
        RouteMatch::Refused(rejection) => Some(rejection.reason),
        _ => None,
    };
    use ReasonCode::*;
    for (method, target, reason) in [
        ("POST", "/api/v2/clients%20", AmbiguousPath), // trimming servers
        ("POST", "/api/v2/clients%09", AmbiguousPath),
        ("POST", "/api/v2/clients%7F", AmbiguousPath),
        ("POST", "/api/v2/clients%C2%A0", AmbiguousPath), // Unicode white space
        ("POST", "/api/v2/clients%E2%80%8B", AmbiguousPath), // zero-width space
        ("POST", "/api%EF%BC%8Fv2/clients", AmbiguousPath), // full-width solidus
        ("POST", "/api%C0%AFv2/clients", AmbiguousPath),  // overlong `/`
        ("POST", "/x/%E2%80%A4%E2%80%A4/api/v2/clients", AmbiguousPath), // one-dot leaders
        ("POST", "/api/v2/clients.json", PathSuffix),     // format-suffix routers
        ("POST", "/api/v2/clients.", PathSuffix),
        ("POST", "/oidc/register.xml", PathSuffix),
        ("POST", "/reg.json", PathSuffix),
        ("PATCH", "/api/v2/clients/tpc_x.json", PathSuffix),
        ("PATCH", "/api/v2/tenants/settings..", PathSuffix),
        ("POST", "/api/v2/clients?third_party_security_mode=permissive", QueryNotAllowed),
        ("POST", "/oidc/register?", QueryNotAllowed),
        ("POST", "/api/v2/clients?_method=PATCH", MethodOverride),
        ("GET", "/api/v2/tenants/settings?_METHOD=PATCH", MethodOverride),
        ("GET", "/api/v2/tenants/settings?a_b=1&_MeThOd=PATCH", MethodOverride), // past another `_`
        ("GET", "/api/v2/tenants/settings?a=1&%5Fmethod=PATCH", MethodOverride),
        ("GET", "/api/v2/tenants/settings?a=1;%5Fmethod=PATCH", MethodOverride),
        ("POST", "/api/v2/tenants/settings", MethodOverride), // only PATCH/PUT: a body override
        ("POST", "/api/v2/clients/tpc_x", MethodOverride),
        // found by the differential harness: NFKC reads `ſ` as `s` (werkzeug + NFKC router)
        ("POST", "/oidc/regi%C5%BFter", AmbiguousPath),
        ("PATCH", "/api/v2/tenants/%EF%BD%93ettings", AmbiguousPath), // full-width s
        ("POST", "/api/v2/tenants/%C5%BFettings", AmbiguousPath),     // a POST read as settings
    ] {
        assert_eq!(refused(method, target), Some(reason), "{method} {target}");
    }
    for (method, target) in [
        ("GET", "/api/v2/clients?fields=name"),
        ("GET", "/api/v2/clients.json"),
        ("POST", "/api/v2/clients/tpc_x/rotate-secret"),
        ("POST", "/other/x.json?_method=PATCH"),
        ("GET", "/assets/app.v2.js"),
    ] {
        assert_eq!(refused(method, target), None, "{method} {target}");
    }
}

fn path_of(target: &str) -> &[u8] {
    let bytes = target.as_bytes();
    let end = bytes.iter().position(|b| *b == b'?').unwrap_or(bytes.len());
    &bytes[..end]
}

fn hints_of(target: &str) -> MethodHints<'_> {
    MethodHints { override_header: false, query: query_of(target.as_bytes()) }
}

proptest::proptest! {
    /// Classification never panics, whatever the target bytes.
    #[test]
    fn classify_never_panics(target in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), method in "[A-Za-z]{1,7}") {
        let table = RouteTable::new(vec!["/reg".into()]);
        let _ = target_form(&target);
        let _ = table.classify(&method, &target, MethodHints::default());
        let _ = client_id(&target);
    }

    /// A normalised path normalises to itself, and classifies as the original did.
    #[test]
    fn normalisation_is_idempotent(path in "(/[a-zA-Z0-9%.]{0,6}){0,6}") {
        if let Ok(normal) = normalise(&path) {
            let again = normalise(&normal);
            proptest::prop_assert_eq!(again.as_deref(), Ok(normal.as_str()));
            let table = RouteTable::default();
            proptest::prop_assert_eq!(table.classify("POST", &normal, MethodHints::default()), table.classify("POST", &path, MethodHints::default()));
        }
    }
}
