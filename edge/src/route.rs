//! The registry's routes, written once.
//!
//! [`Route::parse`] reads a method and a path into a [`Route`]; [`Route::required_access`] says
//! what the caller needs for it. The viewer-request check (Lambda@Edge, and `tfreg serve`'s
//! check in-process) asks it before anything reaches the origin; the origin parses the same way,
//! dispatches on the [`Route`] and checks the identity the edge passed on against the same
//! answer, so a request that somehow skipped the edge is still refused. A new route is one row
//! of [`ROUTES`], one variant of [`Route`] and one arm of `required_access` (which the compiler
//! makes exhaustive); the origin's dispatch `match` then tells what is left to write.
//!
//! Segments are taken as they come (possibly empty); whether they are valid names and versions
//! is the origin's business, so an invalid name is a `400` that says why, not a `404`.

use crate::Tier;

/// Where the registry's web page is: `GET /` redirects there.
pub const PAGE_PATH: &str = "/ui/";

/// Archive URLs live beneath this path. Terraform never sends its token there, so every URL
/// carries its own signature: a CloudFront signed URL (`tfreg_origin::signed_url`).
pub const ARCHIVE_PATH_PREFIX: &str = "/archives/";

/// What a request needs before it may reach the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the discovery document and the OpenAPI document.
    Public,
    /// A valid, unexpired signature for exactly this archive URL. Terraform sends no token to
    /// the URL in `X-Terraform-Get`, so the URL must authorise itself. CloudFront checks it
    /// (the trusted key group on `/archives/*`, where no function runs) and `tfreg serve`
    /// checks it the same way; the viewer-request check refuses such a request if it ever
    /// gets one.
    SignedArchive,
    /// A valid, unexpired signature for exactly this URL, checked by the origin (which made
    /// it): the mirror's package route, which Terraform requests with no token (as it does an
    /// archive) and which must reach the origin to fetch a package it does not hold yet. The
    /// viewer-request check lets it through without a token.
    SignedAtOrigin,
    /// A bearer token of at least this tier.
    Token(Tier),
}

/// A module as the path names it: `{namespace}/{name}/{system}`, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModulePath<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub system: &'a str,
}

/// A module version as the path names it, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionPath<'a> {
    pub module: ModulePath<'a>,
    pub version: &'a str,
}

/// A provider as the path names it: `{namespace}/{type}`, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderPath<'a> {
    pub namespace: &'a str,
    pub provider_type: &'a str,
}

/// A provider version as the path names it, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderVersionPath<'a> {
    pub provider: ProviderPath<'a>,
    pub version: &'a str,
}

/// A provider as a network mirror path names it: `{hostname}/{namespace}/{type}`, the
/// provider's full source address, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorPath<'a> {
    pub hostname: &'a str,
    pub namespace: &'a str,
    pub provider_type: &'a str,
}

/// A request, as far as the method and the path tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /.well-known/terraform.json`: the service discovery document.
    Discovery,
    /// `GET /openapi.json`: the OpenAPI document of this API.
    OpenApi,
    /// `GET /`: a redirect to the registry's web page.
    Home,
    /// `GET /ui/{file}`: the registry's web page, static files (`""` is the page itself). The
    /// page holds no data: everything it shows comes from the API, with the reader's token.
    Page { file: &'a str },
    /// `GET /v1/modules`: every module, its latest version, paginated.
    ListModules,
    /// `GET /v1/modules/search?q=…`: modules matching words, ranked, paginated.
    SearchModules,
    /// `GET /v1/modules/{namespace}`: the modules of a namespace, paginated.
    NamespaceModules { namespace: &'a str },
    /// `GET /v1/modules/{namespace}/{name}`: the module's latest version for each system.
    ModuleSystems { namespace: &'a str, name: &'a str },
    /// `GET /archives/{key_path}`: an archive, through a signed URL.
    Archive { key_path: &'a str },
    /// `GET /v1/modules/{ns}/{name}/{system}/versions`.
    Versions(ModulePath<'a>),
    /// `GET /v1/modules/{ns}/{name}/{system}/{version}/download`: `204` + `X-Terraform-Get`.
    Download(VersionPath<'a>),
    /// `GET /v1/modules/{ns}/{name}/{system}/{version}`: the stored version's details.
    VersionInfo(VersionPath<'a>),
    /// `GET /v1/modules/{ns}/{name}/{system}`: the latest version's details.
    LatestVersionInfo(ModulePath<'a>),
    /// `PUT /v1/modules/{ns}/{name}/{system}/{version}` with the archive as the body.
    Upload(VersionPath<'a>),
    /// `POST …/{version}/uploads`: a presigned URL for a large upload.
    StartStagedUpload(VersionPath<'a>),
    /// `POST …/{version}/uploads/{upload_id}`: validate and publish a staged upload.
    FinishStagedUpload {
        version: VersionPath<'a>,
        upload_id: &'a str,
    },
    /// `GET /v1/pins`.
    ListPins,
    /// `POST /v1/pins/{ns}/{name}/{system}/{version}`.
    Pin(VersionPath<'a>),
    /// `DELETE /v1/pins/{ns}/{name}/{system}/{version}`.
    Unpin(VersionPath<'a>),
    /// `GET /v1/providers/{ns}/{type}/versions` (the provider registry protocol).
    ProviderVersions(ProviderPath<'a>),
    /// `GET /v1/providers/{ns}/{type}/{version}/download/{os}/{arch}`: where the package is,
    /// its checksums, their signature and the keys that may have made it.
    ProviderDownload {
        version: ProviderVersionPath<'a>,
        os: &'a str,
        arch: &'a str,
    },
    /// `PUT /v1/providers/{ns}/{type}/{version}` with the release (platform zips,
    /// `SHA256SUMS` and its signature) as a tar body.
    PublishProvider(ProviderVersionPath<'a>),
    /// `POST /v1/providers/{ns}/{type}/{version}/uploads`: a presigned URL for a release too
    /// large for the origin's request limit (the origin Lambda's 6 MB).
    StartProviderUpload(ProviderVersionPath<'a>),
    /// `POST …/{version}/uploads/{upload_id}`: check and publish a staged release.
    FinishProviderUpload {
        version: ProviderVersionPath<'a>,
        upload_id: &'a str,
    },
    /// `GET /v1/provider-keys/{namespace}`: the GPG keys registered for a namespace.
    ListSigningKeys { namespace: &'a str },
    /// `POST /v1/provider-keys/{namespace}` with an ASCII-armored public key.
    AddSigningKey { namespace: &'a str },
    /// `DELETE /v1/provider-keys/{namespace}/{key_id}`.
    RemoveSigningKey { namespace: &'a str, key_id: &'a str },
    /// `GET /v1/mirror/{hostname}/{ns}/{type}/{file}` (the provider network mirror protocol):
    /// `file` is `index.json` (the versions) or `{version}.json` (its packages).
    MirrorFile {
        provider: MirrorPath<'a>,
        file: &'a str,
    },
    /// `GET /v1/mirror/{hostname}/{ns}/{type}/{version}/{file}`, `file` being
    /// `{os}_{arch}.zip`: a package the mirror does not hold yet, through the signed URL a
    /// `{version}.json` answer names. Fetched, checked and kept, then a redirect to its signed
    /// archive URL beneath `/archives/_mirror/`.
    MirrorPackage {
        provider: MirrorPath<'a>,
        version: &'a str,
        file: &'a str,
    },
    /// `POST /v1/mirror/{hostname}/{ns}/{type}/{version}`: fetch and keep platforms ahead
    /// of time.
    MirrorPrefetch {
        provider: MirrorPath<'a>,
        version: &'a str,
    },
    /// `GET /v1/tokens`.
    ListTokens,
    /// `POST /v1/tokens`.
    CreateToken,
    /// `DELETE /v1/tokens/{name}`.
    RevokeToken { name: &'a str },
    /// `POST /v1/auth/{method}`: an identity proven another way (`aws`: a signed STS request;
    /// `oidc`: a CI's identity token) exchanged for a short-lived token. Public: the body is
    /// the proof.
    Exchange { method: &'a str },
    /// A path the registry serves, with a method it does not take there. `needs` is what a
    /// caller needs to learn even that: a token of the area's tier where the path's routes
    /// need one, nothing where they do not (the public documents, the web page, archives:
    /// CloudFront's behaviours for those take only GET and HEAD and refuse anything else
    /// before the viewer-request function runs, whatever the token).
    MethodNotAllowed {
        allowed: Vec<&'static str>,
        needs: Access,
    },
    /// No such endpoint.
    NotFound { needs: Tier },
}

/// One row of the route table: the methods and the path pattern of a route, and how to build
/// it from the segments the pattern's `{…}` captured (in order).
pub struct RouteSpec {
    pub methods: &'static [&'static str],
    /// `/`-separated segments; `{name}` captures one segment, a trailing `{…*}` the rest.
    pub pattern: &'static str,
    build: for<'a> fn(&[&'a str]) -> Route<'a>,
}

const READ: &[&str] = &["GET", "HEAD"];

fn module<'a>(c: &[&'a str]) -> ModulePath<'a> {
    ModulePath {
        namespace: c[0],
        name: c[1],
        system: c[2],
    }
}

fn version<'a>(c: &[&'a str]) -> VersionPath<'a> {
    VersionPath {
        module: module(c),
        version: c[3],
    }
}

fn provider<'a>(c: &[&'a str]) -> ProviderPath<'a> {
    ProviderPath {
        namespace: c[0],
        provider_type: c[1],
    }
}

fn mirror<'a>(c: &[&'a str]) -> MirrorPath<'a> {
    MirrorPath {
        hostname: c[0],
        namespace: c[1],
        provider_type: c[2],
    }
}

fn provider_version<'a>(c: &[&'a str]) -> ProviderVersionPath<'a> {
    ProviderVersionPath {
        provider: provider(c),
        version: c[2],
    }
}

/// Every route, in the order they are tried: the first row whose pattern and method match
/// wins (so `…/{system}/versions` is a version list, not version "versions").
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        methods: READ,
        pattern: "/.well-known/terraform.json",
        build: |_| Route::Discovery,
    },
    RouteSpec {
        methods: READ,
        pattern: "/openapi.json",
        build: |_| Route::OpenApi,
    },
    RouteSpec {
        methods: READ,
        pattern: "/",
        build: |_| Route::Home,
    },
    RouteSpec {
        methods: READ,
        pattern: "/ui/{file*}",
        build: |c| Route::Page { file: c[0] },
    },
    RouteSpec {
        methods: READ,
        pattern: "/archives/{key_path*}",
        build: |c| Route::Archive { key_path: c[0] },
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules",
        build: |_| Route::ListModules,
    },
    // Before `{namespace}`: as on the public registry, `search` is not a namespace here.
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules/search",
        build: |_| Route::SearchModules,
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules/{namespace}",
        build: |c| Route::NamespaceModules { namespace: c[0] },
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules/{namespace}/{name}",
        build: |c| Route::ModuleSystems {
            namespace: c[0],
            name: c[1],
        },
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules/{namespace}/{name}/{system}/versions",
        build: |c| Route::Versions(module(c)),
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules/{namespace}/{name}/{system}/{version}/download",
        build: |c| Route::Download(version(c)),
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules/{namespace}/{name}/{system}/{version}",
        build: |c| Route::VersionInfo(version(c)),
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/modules/{namespace}/{name}/{system}",
        build: |c| Route::LatestVersionInfo(module(c)),
    },
    RouteSpec {
        methods: &["PUT"],
        pattern: "/v1/modules/{namespace}/{name}/{system}/{version}",
        build: |c| Route::Upload(version(c)),
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/modules/{namespace}/{name}/{system}/{version}/uploads",
        build: |c| Route::StartStagedUpload(version(c)),
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/modules/{namespace}/{name}/{system}/{version}/uploads/{upload_id}",
        build: |c| Route::FinishStagedUpload {
            version: version(c),
            upload_id: c[4],
        },
    },
    RouteSpec {
        methods: &["GET"],
        pattern: "/v1/pins",
        build: |_| Route::ListPins,
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/pins/{namespace}/{name}/{system}/{version}",
        build: |c| Route::Pin(version(c)),
    },
    RouteSpec {
        methods: &["DELETE"],
        pattern: "/v1/pins/{namespace}/{name}/{system}/{version}",
        build: |c| Route::Unpin(version(c)),
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/providers/{namespace}/{type}/versions",
        build: |c| Route::ProviderVersions(provider(c)),
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/providers/{namespace}/{type}/{version}/download/{os}/{arch}",
        build: |c| Route::ProviderDownload {
            version: provider_version(c),
            os: c[3],
            arch: c[4],
        },
    },
    RouteSpec {
        methods: &["PUT"],
        pattern: "/v1/providers/{namespace}/{type}/{version}",
        build: |c| Route::PublishProvider(provider_version(c)),
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/providers/{namespace}/{type}/{version}/uploads",
        build: |c| Route::StartProviderUpload(provider_version(c)),
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/providers/{namespace}/{type}/{version}/uploads/{upload_id}",
        build: |c| Route::FinishProviderUpload {
            version: provider_version(c),
            upload_id: c[3],
        },
    },
    RouteSpec {
        methods: &["GET"],
        pattern: "/v1/provider-keys/{namespace}",
        build: |c| Route::ListSigningKeys { namespace: c[0] },
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/provider-keys/{namespace}",
        build: |c| Route::AddSigningKey { namespace: c[0] },
    },
    RouteSpec {
        methods: &["DELETE"],
        pattern: "/v1/provider-keys/{namespace}/{key_id}",
        build: |c| Route::RemoveSigningKey {
            namespace: c[0],
            key_id: c[1],
        },
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/mirror/{hostname}/{namespace}/{type}/{file}",
        build: |c| Route::MirrorFile {
            provider: mirror(c),
            file: c[3],
        },
    },
    RouteSpec {
        methods: READ,
        pattern: "/v1/mirror/{hostname}/{namespace}/{type}/{version}/{file}",
        build: |c| Route::MirrorPackage {
            provider: mirror(c),
            version: c[3],
            file: c[4],
        },
    },
    RouteSpec {
        methods: &["POST"],
        // `{file}`, as in the row above: one path, whose last segment is a version here (an
        // OpenAPI document cannot hold two paths that differ in a parameter's name only).
        pattern: "/v1/mirror/{hostname}/{namespace}/{type}/{file}",
        build: |c| Route::MirrorPrefetch {
            provider: mirror(c),
            version: c[3],
        },
    },
    RouteSpec {
        methods: &["GET"],
        pattern: "/v1/tokens",
        build: |_| Route::ListTokens,
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/tokens",
        build: |_| Route::CreateToken,
    },
    RouteSpec {
        methods: &["DELETE"],
        pattern: "/v1/tokens/{name}",
        build: |c| Route::RevokeToken { name: c[0] },
    },
    RouteSpec {
        methods: &["POST"],
        pattern: "/v1/auth/{method}",
        build: |c| Route::Exchange { method: c[0] },
    },
];

impl RouteSpec {
    /// The captured segments when `path` fits the pattern, whatever the method.
    fn captures<'a>(&self, path: &'a str) -> Option<Vec<&'a str>> {
        let mut rest = path.strip_prefix('/')?;
        let mut captured = Vec::new();
        let mut segments = self.pattern[1..].split('/').peekable();
        while let Some(segment) = segments.next() {
            if segment.starts_with('{') && segment.ends_with("*}") {
                // The rest of the path, whatever it holds.
                captured.push(rest);
                return Some(captured);
            }
            let (head, tail) = match rest.split_once('/') {
                Some((head, tail)) => (head, Some(tail)),
                None => (rest, None),
            };
            if segment.starts_with('{') {
                captured.push(head);
            } else if segment != head {
                return None;
            }
            match (tail, segments.peek()) {
                (Some(tail), Some(_)) => rest = tail,
                (None, None) => return Some(captured),
                _ => return None,
            }
        }
        None
    }
}

impl<'a> Route<'a> {
    /// The route a request takes. Never fails: what matches nothing is [`Route::NotFound`] or
    /// [`Route::MethodNotAllowed`], which still say what a caller needs to learn even that.
    pub fn parse(method: &str, path: &'a str) -> Route<'a> {
        let mut allowed: Vec<&'static str> = Vec::new();
        // Whether every row the path fits is open without a token (public or signed).
        let mut open_rows_only = true;
        for spec in ROUTES {
            let Some(captured) = spec.captures(path) else {
                continue;
            };
            let route = (spec.build)(&captured);
            if spec.methods.contains(&method) {
                return route;
            }
            // Open: public, or an archive CloudFront checks. A signed-at-origin row is not:
            // its path lies in a token area of the API, whose other methods stay that area's.
            open_rows_only &= matches!(
                route.required_access(),
                Access::Public | Access::SignedArchive
            );
            for m in spec.methods {
                if !allowed.contains(m) {
                    allowed.push(m);
                }
            }
        }
        let needs = unmatched_tier(method, path);
        if allowed.is_empty() {
            Route::NotFound { needs }
        } else if open_rows_only {
            // Nothing behind such a path is secret, and no token opens it to another method:
            // the refusal is the same for everyone, as CloudFront's is.
            Route::MethodNotAllowed {
                allowed,
                needs: Access::Public,
            }
        } else {
            Route::MethodNotAllowed {
                allowed,
                needs: Access::Token(needs),
            }
        }
    }

    /// What a caller needs for this route.
    pub fn required_access(&self) -> Access {
        match self {
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
            Route::ListSigningKeys { .. }
            | Route::AddSigningKey { .. }
            | Route::RemoveSigningKey { .. }
            | Route::ListPins
            | Route::MirrorPrefetch { .. }
            | Route::Pin(_)
            | Route::Unpin(_)
            | Route::ListTokens
            | Route::CreateToken
            | Route::RevokeToken { .. } => Access::Token(Tier::Master),
            Route::MethodNotAllowed { needs, .. } => *needs,
            Route::NotFound { needs } => Access::Token(*needs),
        }
    }
}

/// What a request that matches no route needs before it may learn so: a token of the tier the
/// area it aims at needs, so an anonymous caller learns nothing about what exists, and a
/// downloader learns nothing about the administration endpoints.
fn unmatched_tier(method: &str, path: &str) -> Tier {
    let read = matches!(method, "GET" | "HEAD");
    let admin =
        under(path, "/v1/tokens") || under(path, "/v1/pins") || under(path, "/v1/provider-keys");
    // Writes beneath the mirror (pre-mirroring) are the master's.
    if admin || (under(path, "/v1/mirror") && !read) {
        Tier::Master
    } else if (path.starts_with("/v1/modules/") || path.starts_with("/v1/providers/")) && !read {
        Tier::Uploader
    } else {
        Tier::Downloader
    }
}

/// `path` is `prefix` itself or lies beneath it on a whole segment.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The access a request needs: [`Route::parse`], then [`Route::required_access`].
pub fn required_access(method: &str, path: &str) -> Access {
    Route::parse(method, path).required_access()
}

#[cfg(test)]
mod tests;
