//! The route table's tests: every row parses to its route, and every route to the tier it needs.

use super::*;

const TIERS: [Option<Tier>; 4] = [
    None,
    Some(Tier::Downloader),
    Some(Tier::Uploader),
    Some(Tier::Master),
];

/// A path that fits `pattern`, with a recognisable value in each capture.
fn sample_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            "{namespace}" => "acme",
            "{name}" => "vpc",
            "{system}" => "aws",
            "{version}" => "1.2.0",
            "{upload_id}" => "0123456789abcdef0123456789abcdef",
            "{key_path*}" => "acme/vpc/aws/1.2.0/module.tar.gz",
            "{file*}" => "app.js",
            "{method}" => "aws",
            "{type}" => "dns",
            "{os}" => "linux",
            "{arch}" => "amd64",
            "{key_id}" => "0123456789ABCDEF",
            "{hostname}" => "registry.terraform.io",
            "{file}" => "index.json",
            literal => literal,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The tier table as the README states it, walked for every route of [`ROUTES`], every
/// method it takes and every caller: nobody gets past a route without what it needs.
#[test]
fn every_route_times_every_tier() {
    let expected = |route: &Route| match route {
        Route::Discovery
        | Route::OpenApi
        | Route::Home
        | Route::Page { .. }
        | Route::Exchange { .. } => Access::Public,
        Route::Archive { .. } => Access::SignedArchive,
        Route::MirrorPackage { .. } => Access::SignedAtOrigin,
        Route::Versions(_)
        | Route::Download(_)
        | Route::VersionInfo(_)
        | Route::LatestVersionInfo(_)
        | Route::ListModules
        | Route::SearchModules
        | Route::NamespaceModules { .. }
        | Route::ModuleSystems { .. }
        | Route::ProviderVersions(_)
        | Route::ProviderDownload { .. }
        | Route::MirrorFile { .. } => Access::Token(Tier::Downloader),
        Route::Upload(_)
        | Route::StartStagedUpload(_)
        | Route::FinishStagedUpload { .. }
        | Route::PublishProvider(_)
        | Route::StartProviderUpload(_)
        | Route::FinishProviderUpload { .. } => Access::Token(Tier::Uploader),
        Route::MethodNotAllowed { .. } | Route::NotFound { .. } => {
            panic!("a row of the table must parse to its own route")
        }
        _ => Access::Token(Tier::Master),
    };
    let mut walked = 0;
    for spec in ROUTES {
        let path = sample_path(spec.pattern);
        for method in spec.methods {
            let route = Route::parse(method, &path);
            let access = route.required_access();
            assert_eq!(access, expected(&route), "{method} {path}");
            for caller in TIERS {
                let admitted = match access {
                    Access::Public => true,
                    Access::SignedArchive | Access::SignedAtOrigin => false,
                    Access::Token(needed) => caller.is_some_and(|t| t.grants(needed)),
                };
                let should = match (access, caller) {
                    (Access::Public, _) => true,
                    (Access::SignedArchive | Access::SignedAtOrigin, _)
                    | (Access::Token(_), None) => false,
                    (Access::Token(Tier::Downloader), Some(_)) => true,
                    (Access::Token(Tier::Uploader), Some(t)) => t != Tier::Downloader,
                    (Access::Token(Tier::Master), Some(t)) => t == Tier::Master,
                };
                assert_eq!(admitted, should, "{method} {path} as {caller:?}");
                walked += 1;
            }
        }
    }
    // 34 routes; the seventeen reads take GET and HEAD.
    assert_eq!(walked, 51 * TIERS.len());
}

#[test]
fn routes_map_to_the_tier_they_need() {
    let cases = [
        ("GET", "/.well-known/terraform.json", Access::Public),
        ("HEAD", "/openapi.json", Access::Public),
        // The public documents and archives take GET and HEAD only, and say so to anyone.
        ("POST", "/.well-known/terraform.json", Access::Public),
        (
            "GET",
            "/v1/modules/acme/vpc/aws/versions",
            Access::Token(Tier::Downloader),
        ),
        (
            "GET",
            "/v1/modules/acme/vpc/aws/1.0.0/download",
            Access::Token(Tier::Downloader),
        ),
        (
            "PUT",
            "/v1/modules/acme/vpc/aws/1.0.0",
            Access::Token(Tier::Uploader),
        ),
        ("GET", "/v1/tokens", Access::Token(Tier::Master)),
        ("POST", "/v1/tokens", Access::Token(Tier::Master)),
        ("DELETE", "/v1/tokens/ci", Access::Token(Tier::Master)),
        ("GET", "/v1/tokensmith", Access::Token(Tier::Downloader)),
        ("GET", "/v1/pins", Access::Token(Tier::Master)),
        (
            "GET",
            "/archives/acme/vpc/aws/1.0.0.tar.gz",
            Access::SignedArchive,
        ),
        ("PUT", "/archives/acme/vpc/aws/1.0.0.tar.gz", Access::Public),
        ("DELETE", "/archives/_proxy/acme/x", Access::Public),
        ("GET", "/v1/auth/aws", Access::Public),
        // A mirror package: the origin checks its signature. Another method there is a write
        // beneath /v1/mirror, which needs the master tier even to learn it is not taken (found
        // by the route fuzz target: tests/fuzz/regressions/route/).
        (
            "GET",
            "/v1/mirror/registry.terraform.io/hashicorp/aws/5.0.0/linux_amd64.zip",
            Access::SignedAtOrigin,
        ),
        (
            "DELETE",
            "/v1/mirror/registry.terraform.io/hashicorp/aws/5.0.0/linux_amd64.zip",
            Access::Token(Tier::Master),
        ),
        (
            "G:E!T\0/v1/mod\u{1}ulds",
            "/v1/mirror//v1/ules/ders/ao",
            Access::Token(Tier::Master),
        ),
        ("GET", "/anything/else", Access::Token(Tier::Downloader)),
    ];
    for (method, path, access) in cases {
        assert_eq!(required_access(method, path), access, "{method} {path}");
    }
}

#[test]
fn archive_routes_are_the_signed_url_prefix() {
    let path = format!(
        "{}acme/vpc/aws/1.0.0/module.tar.gz",
        crate::ARCHIVE_PATH_PREFIX
    );
    assert!(matches!(Route::parse("GET", &path), Route::Archive { .. }));
}

#[test]
fn each_row_parses_to_its_route_with_its_segments() {
    let acme = ModulePath {
        namespace: "acme",
        name: "vpc",
        system: "aws",
    };
    let v = VersionPath {
        module: acme,
        version: "1.2.0",
    };
    let cases = [
        ("GET", "/.well-known/terraform.json", Route::Discovery),
        ("GET", "/openapi.json", Route::OpenApi),
        (
            "HEAD",
            "/archives/acme/vpc/aws/1.2.0/module.tar.gz",
            Route::Archive {
                key_path: "acme/vpc/aws/1.2.0/module.tar.gz",
            },
        ),
        (
            "GET",
            "/v1/modules/acme/vpc/aws/versions",
            Route::Versions(acme),
        ),
        (
            "GET",
            "/v1/modules/acme/vpc/aws/1.2.0/download",
            Route::Download(v),
        ),
        (
            "GET",
            "/v1/modules/acme/vpc/aws/1.2.0",
            Route::VersionInfo(v),
        ),
        (
            "GET",
            "/v1/modules/acme/vpc/aws",
            Route::LatestVersionInfo(acme),
        ),
        ("PUT", "/v1/modules/acme/vpc/aws/1.2.0", Route::Upload(v)),
        (
            "POST",
            "/v1/modules/acme/vpc/aws/1.2.0/uploads",
            Route::StartStagedUpload(v),
        ),
        (
            "POST",
            "/v1/modules/acme/vpc/aws/1.2.0/uploads/abc",
            Route::FinishStagedUpload {
                version: v,
                upload_id: "abc",
            },
        ),
        ("GET", "/v1/pins", Route::ListPins),
        ("POST", "/v1/pins/acme/vpc/aws/1.2.0", Route::Pin(v)),
        ("DELETE", "/v1/pins/acme/vpc/aws/1.2.0", Route::Unpin(v)),
        ("GET", "/v1/tokens", Route::ListTokens),
        ("POST", "/v1/tokens", Route::CreateToken),
        ("DELETE", "/v1/tokens/ci", Route::RevokeToken { name: "ci" }),
        // A PUT of version "versions" is an upload (and a 400 at the origin), as before.
        (
            "PUT",
            "/v1/modules/acme/vpc/aws/versions",
            Route::Upload(VersionPath {
                module: acme,
                version: "versions",
            }),
        ),
        // Empty segments are kept for the origin to refuse with a reason.
        ("DELETE", "/v1/tokens/", Route::RevokeToken { name: "" }),
    ];
    for (method, path, route) in cases {
        assert_eq!(Route::parse(method, path), route, "{method} {path}");
    }
}

#[test]
fn a_known_path_with_another_method_says_which_methods_it_takes() {
    let token = Access::Token;
    let cases: [(&str, &str, &[&str], Access); 9] = [
        (
            "DELETE",
            "/v1/modules/acme/vpc/aws/1.0.0/download",
            &["GET", "HEAD"],
            token(Tier::Uploader),
        ),
        (
            "DELETE",
            "/v1/modules/acme/vpc/aws/1.0.0",
            &["GET", "HEAD", "PUT"],
            token(Tier::Uploader),
        ),
        ("PUT", "/v1/tokens", &["GET", "POST"], token(Tier::Master)),
        ("GET", "/v1/tokens/ci", &["DELETE"], token(Tier::Master)),
        (
            "PUT",
            "/v1/pins/acme/vpc/aws/1.0.0",
            &["POST", "DELETE"],
            token(Tier::Master),
        ),
        // Paths open without a token refuse other methods to anyone, with or without one
        // (CloudFront's behaviours for them take GET and HEAD only).
        (
            "POST",
            "/.well-known/terraform.json",
            &["GET", "HEAD"],
            Access::Public,
        ),
        (
            "PUT",
            "/archives/acme/vpc/aws/1.0.0.tar.gz",
            &["GET", "HEAD"],
            Access::Public,
        ),
        (
            "DELETE",
            "/archives/_proxy/acme/vpc/aws/1.0.0/module.tar.gz",
            &["GET", "HEAD"],
            Access::Public,
        ),
        ("GET", "/v1/auth/oidc", &["POST"], Access::Public),
    ];
    for (method, path, allowed, needs) in cases {
        assert_eq!(
            Route::parse(method, path),
            Route::MethodNotAllowed {
                allowed: allowed.to_vec(),
                needs
            },
            "{method} {path}"
        );
    }
}

#[test]
fn what_matches_nothing_still_needs_a_token() {
    let cases = [
        ("GET", "/anything/else", Tier::Downloader),
        ("GET", "/v1/tokensmith", Tier::Downloader),
        ("GET", "/v1/tokens/a/b", Tier::Master),
        ("GET", "/v1/pins/acme", Tier::Master),
        (
            "POST",
            "/v1/modules/acme/vpc/aws/1.0.0/nothing",
            Tier::Uploader,
        ),
        (
            "GET",
            "/v1/modules/acme/vpc/aws/versions/",
            Tier::Downloader,
        ),
        ("GET", "", Tier::Downloader),
    ];
    for (method, path, needs) in cases {
        assert_eq!(
            Route::parse(method, path),
            Route::NotFound { needs },
            "{method} {path}"
        );
        assert_eq!(required_access(method, path), Access::Token(needs));
    }
}
