//! Route parsing on an arbitrary method and path: never panics, `required_access` answers for
//! every route, and the administration areas always need the master tier.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tfreg_edge::{required_access, Access, Route, Tier};

fuzz_target!(|input: (&str, &str)| {
    let (method, path) = input;
    let route = Route::parse(method, path);
    let access = route.required_access();
    assert_eq!(
        required_access(method, path),
        access,
        "one answer per request"
    );
    assert_eq!(
        Route::parse(method, path),
        route,
        "parsing is deterministic"
    );
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/v1/tokens") || under("/v1/pins") {
        assert_eq!(access, Access::Token(Tier::Master), "{method} {path}");
    }
    if path.starts_with("/v1/") && !matches!(method, "GET" | "HEAD") && !under("/v1/auth") {
        assert_ne!(
            access,
            Access::Public,
            "an anonymous write: {method} {path}"
        );
    }
});
