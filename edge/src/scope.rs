//! Token scopes: module prefixes on whole segments (`acme`, `acme/network`,
//! `acme/network/aws`) that limit what a token reaches. A token without scopes reaches every
//! module its tier allows. The edge checks a request's route against them, and the origin again
//! against the same route; lists and searches show only what the token may read.

use crate::route::Route;

/// The most scopes a token carries (they travel in the identity header).
pub const MAX_SCOPES: usize = 16;

/// Whether `scope` is a valid scope: one to three `/`-separated segments, each 1-64 of
/// `a-z 0-9 - _` starting with a letter or digit (the third, a system, of `a-z 0-9` only).
pub fn validate_scope(scope: &str) -> Result<(), String> {
    let segments: Vec<&str> = scope.split('/').collect();
    let valid = (1..=3).contains(&segments.len())
        && segments.iter().enumerate().all(|(i, segment)| {
            let bytes = segment.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 64
                && bytes[0].is_ascii_alphanumeric()
                && bytes.iter().all(|b| match i {
                    2 => b.is_ascii_lowercase() || b.is_ascii_digit(),
                    _ => matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'),
                })
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid scope {scope:?}: use a module prefix such as acme, acme/network or acme/network/aws (lowercase)"
        ))
    }
}

/// Whether `segments` (a module address, or the start of one) lies within one of `scopes`.
/// No scopes: everything does.
pub fn within(scopes: &[String], segments: &[&str]) -> bool {
    scopes.is_empty()
        || scopes.iter().any(|scope| {
            let scope: Vec<&str> = scope.split('/').collect();
            scope.len() <= segments.len() && scope[..] == segments[..scope.len()]
        })
}

/// Whether some of what `prefix` names lies within `scopes`: `prefix` within a scope, or a
/// scope within `prefix` (a token scoped to `acme/network` may list the namespace `acme`,
/// and sees its `network` modules only).
pub fn overlaps(scopes: &[String], prefix: &[&str]) -> bool {
    within(scopes, prefix)
        || scopes.iter().any(|scope| {
            let scope: Vec<&str> = scope.split('/').collect();
            prefix.len() <= scope.len() && scope[..prefix.len()] == prefix[..]
        })
}

impl Route<'_> {
    /// Whether a token limited to `scopes` may make this request (its tier checked apart).
    /// Lists, searches and the pin list are answered filtered instead; token administration
    /// is for unscoped tokens only (a scoped token could otherwise mint an unscoped one).
    pub fn scope_verdict(&self, scopes: &[String]) -> Result<(), String> {
        if scopes.is_empty() {
            return Ok(());
        }
        let shown = || scopes.join(", ");
        let module = match self {
            Route::Versions(m) | Route::LatestVersionInfo(m) => [m.namespace, m.name, m.system],
            Route::Download(v)
            | Route::VersionInfo(v)
            | Route::Upload(v)
            | Route::StartStagedUpload(v)
            | Route::FinishStagedUpload { version: v, .. }
            | Route::Pin(v)
            | Route::Unpin(v) => [v.module.namespace, v.module.name, v.module.system],
            Route::NamespaceModules { namespace } => {
                return if overlaps(scopes, &[namespace]) {
                    Ok(())
                } else {
                    Err(format!(
                        "this token is limited to {}; namespace {namespace} is outside it",
                        shown()
                    ))
                };
            }
            Route::ModuleSystems { namespace, name } => {
                return if overlaps(scopes, &[namespace, name]) {
                    Ok(())
                } else {
                    Err(format!(
                        "this token is limited to {}; {namespace}/{name} is outside it",
                        shown()
                    ))
                };
            }
            // Scopes are module prefixes; a provider is within one only when the scope is its
            // whole namespace (`acme`), so a token scoped to `acme/network` (modules) reaches
            // no provider, and `acme/dns` never names provider and modules at once.
            Route::ProviderVersions(p)
            | Route::ProviderDownload {
                version: crate::route::ProviderVersionPath { provider: p, .. },
                ..
            }
            | Route::PublishProvider(crate::route::ProviderVersionPath { provider: p, .. })
            | Route::StartProviderUpload(crate::route::ProviderVersionPath {
                provider: p, ..
            })
            | Route::FinishProviderUpload {
                version: crate::route::ProviderVersionPath { provider: p, .. },
                ..
            } => {
                return namespace_scope(scopes, p.namespace, &shown());
            }
            Route::ListSigningKeys { namespace }
            | Route::AddSigningKey { namespace }
            | Route::RemoveSigningKey { namespace, .. } => {
                return namespace_scope(scopes, namespace, &shown());
            }
            Route::ListTokens | Route::CreateToken | Route::RevokeToken { .. } => {
                return Err(format!(
                    "this token is limited to {}; only a token without scopes administers tokens",
                    shown()
                ));
            }
            Route::Discovery
            | Route::OpenApi
            | Route::Home
            | Route::Page { .. }
            | Route::Archive { .. }
            | Route::ListModules
            | Route::SearchModules
            | Route::ListPins
            // Public providers through the mirror belong to no namespace of this registry:
            // every token that may run `terraform init` needs them.
            | Route::MirrorFile { .. }
            | Route::MirrorPackage { .. }
            | Route::MirrorPrefetch { .. }
            | Route::Exchange { .. }
            | Route::MethodNotAllowed { .. }
            | Route::NotFound { .. } => return Ok(()),
        };
        if within(scopes, &module) {
            Ok(())
        } else {
            Err(format!(
                "this token is limited to {}; {} is outside it",
                shown(),
                module.join("/")
            ))
        }
    }
}

/// Whether one of `scopes` is the whole of `namespace`: what providers and their signing keys
/// need, since a provider address has no third segment to share with module scopes.
fn namespace_scope(scopes: &[String], namespace: &str, shown: &str) -> Result<(), String> {
    if scopes.iter().any(|scope| scope == namespace) {
        Ok(())
    } else {
        Err(format!(
            "this token is limited to {shown}; providers of namespace {namespace} need a scope of the whole namespace ({namespace})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scopes_are_module_prefixes_on_whole_segments() {
        for good in ["acme", "acme/network", "acme/network/aws", "a_b/c-d/x1"] {
            assert_eq!(validate_scope(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/",
            "acme/",
            "Acme",
            "acme/network/aws/1",
            "acme/network/a-b",
            "-x",
            "a b",
        ] {
            assert!(validate_scope(bad).is_err(), "{bad}");
        }
        let network = scopes(&["acme/network"]);
        assert!(within(&network, &["acme", "network", "aws"]));
        assert!(
            !within(&network, &["acme", "networking", "aws"]),
            "whole segments"
        );
        assert!(!within(&network, &["acme", "iam", "aws"]));
        assert!(!within(&network, &["acme"]));
        assert!(overlaps(&network, &["acme"]));
        assert!(!overlaps(&network, &["other"]));
        assert!(within(&[], &["anything"]));
    }

    #[test]
    fn routes_outside_the_scopes_are_refused() {
        let network = scopes(&["acme/network"]);
        let allowed = [
            ("PUT", "/v1/modules/acme/network/aws/1.0.0"),
            ("GET", "/v1/modules/acme/network/aws/versions"),
            ("GET", "/v1/modules/acme"),
            ("GET", "/v1/modules/acme/network"),
            ("GET", "/v1/modules"),
            ("GET", "/v1/modules/search"),
            ("GET", "/.well-known/terraform.json"),
        ];
        let whole = scopes(&["acme"]);
        assert_eq!(
            Route::parse("PUT", "/v1/providers/acme/dns/1.0.0").scope_verdict(&whole),
            Ok(())
        );
        for (method, path) in [
            ("PUT", "/v1/providers/acme/network/1.0.0"),
            ("GET", "/v1/providers/acme/network/versions"),
            ("POST", "/v1/provider-keys/acme"),
        ] {
            assert!(
                Route::parse(method, path).scope_verdict(&network).is_err(),
                "{method} {path}"
            );
        }
        for (method, path) in allowed {
            assert_eq!(
                Route::parse(method, path).scope_verdict(&network),
                Ok(()),
                "{method} {path}"
            );
        }
        let refused = [
            ("PUT", "/v1/modules/acme/iam/aws/1.0.0"),
            ("GET", "/v1/modules/other/network/aws/1.0.0/download"),
            ("GET", "/v1/modules/other"),
            ("GET", "/v1/modules/acme/iam"),
            ("POST", "/v1/pins/hashicorp/consul/aws/0.1.0"),
            ("POST", "/v1/tokens"),
            ("GET", "/v1/tokens"),
        ];
        for (method, path) in refused {
            let verdict = Route::parse(method, path).scope_verdict(&network);
            assert!(verdict.is_err(), "{method} {path}");
            assert!(verdict.unwrap_err().contains("acme/network"));
        }
        assert_eq!(
            Route::parse("POST", "/v1/tokens").scope_verdict(&[]),
            Ok(())
        );
    }
}
