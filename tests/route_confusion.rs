//! Route confusion between the edge check and the origin (issue 18): the edge's decision
//! ([`EdgeCheck`], over [`Route::parse`] and [`Route::required_access`]) and the origin's
//! ([`Registry::handle`] with the identity the edge passes on) over generated paths, every
//! method and every kind of caller, in process; and the archive methods through the real
//! `tfreg serve`.
//!
//! The escalations it looks for: the origin allowing what the edge refused, and the
//! distribution (`tfreg serve`) serving a body the edge would not, an archive without a valid
//! signature, an archive to a method other than GET and HEAD (CloudFront's `/archives/*`
//! behaviour takes only those), or the proxy cache while proxy mode is off.

mod common;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;
use tfreg_cloudfront::distribution::Distribution;
use tfreg_edge::{
    hash_token, Decision, EdgeCheck, EdgeConfig, Identity, Route, Tier, TokenInfo, ViewerRequest,
};
use tfreg_origin::embedded::{FileArchiveStore, RedbTokenStore};
use tfreg_origin::proxy::{Proxy, ProxyConfig};
use tfreg_origin::signed_url::UrlSigner;
use tfreg_origin::storage::TokenRecord;
use tfreg_origin::{
    now_unix, IdentitySource, OriginRequest, Registry, RegistryConfig, RequestBody, TokenStore,
};

const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];
const ARCHIVE: &str = "/archives/acme/vpc/aws/1.0.0/module.tar.gz";
const PROXIED_ARCHIVE: &str = "/archives/_proxy/acme/vpc/aws/1.0.0/module.tar.gz";
/// The `Host` the in-process requests come with: archive URLs are signed for it.
const HOST: &str = "registry.test";

/// A caller: the token it sends, and what the store knows of it (`None`: unknown).
struct Caller {
    label: &'static str,
    token: Option<String>,
    info: Option<TokenInfo>,
}

impl Caller {
    /// The identity the edge passes on when it lets this caller through on a token route.
    fn identity(&self) -> Option<Identity> {
        self.info.as_ref().map(|info| Identity {
            token_name: info.token_name.clone(),
            tier: info.tier,
            scopes: info.scopes.clone(),
        })
    }

    fn live(&self, now: u64) -> bool {
        self.info
            .as_ref()
            .is_some_and(|info| info.expires_at.is_none_or(|expiry| now < expiry))
    }
}

struct World {
    registry: Arc<Registry>,
    distribution: Distribution,
    edge: EdgeCheck,
    /// Signs archive URLs as the origin does; CloudFront (here the distribution) checks them.
    url_signer: UrlSigner,
    callers: Vec<Caller>,
    _dir: tempfile::TempDir,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A registry as `tfreg serve` builds it over embedded storage, proxy mode off (its upstream a
/// closed loopback port, so nothing leaves the machine), with `acme/vpc/aws` 1.0.0 uploaded and
/// the same archive in the proxy cache, and a token of every kind.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let archives = FileArchiveStore::open(dir.path()).unwrap();
    let scratch = archives.staging_dir().to_path_buf();
    let tokens = Arc::new(RedbTokenStore::open(&dir.path().join("tokens.redb")).unwrap());
    let url_signer = UrlSigner::generate("KROUTES");
    let proxy_cache_dir = dir.path().join("proxy-cache");
    let proxy_cache = FileArchiveStore::open(&proxy_cache_dir).unwrap();
    let proxy_config = ProxyConfig {
        upstream: "http://127.0.0.1:9/".parse().unwrap(),
        github_archive_url: "http://127.0.0.1:9/".parse().unwrap(),
        ..ProxyConfig::default()
    };
    assert!(!proxy_config.enabled);
    let registry = Arc::new(
        Registry::new(
            Arc::new(archives),
            tokens.clone(),
            url_signer.clone(),
            RegistryConfig::new(scratch),
        )
        .with_proxy(Proxy::new(proxy_config, Arc::new(proxy_cache)).unwrap())
        .with_pins(tokens.clone()),
    );
    let master = registry.ensure_master_token().await.unwrap().unwrap();

    let now = now_unix();
    let mut callers = vec![
        Caller {
            label: "none",
            token: None,
            info: None,
        },
        Caller {
            label: "unknown",
            token: Some("tfr_not_a_real_token_0123456789".into()),
            info: None,
        },
        Caller {
            label: "master",
            token: Some(master),
            info: Some(TokenInfo {
                token_name: tfreg_origin::MASTER_TOKEN_NAME.into(),
                tier: Tier::Master,
                expires_at: None,
                scopes: Vec::new(),
            }),
        },
    ];
    let made: [(&str, Tier, Option<u64>, &[&str]); 5] = [
        ("t-downloader", Tier::Downloader, None, &[]),
        ("t-uploader", Tier::Uploader, None, &[]),
        ("t-scoped-uploader", Tier::Uploader, None, &["acme/vpc"]),
        ("t-scoped-downloader", Tier::Downloader, None, &["other"]),
        ("t-expired-master", Tier::Master, Some(now - 10), &[]),
    ];
    for (name, tier, expires_at, scopes) in made {
        let token = format!("tfr_{name}_0123456789abcdef");
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        tokens
            .create(&TokenRecord {
                scopes: scopes.clone(),
                token_hash: hash_token(&token).as_hex().to_owned(),
                token_name: name.into(),
                permission: tier,
                created_at: "2026-01-01T00:00:00Z".into(),
                expires_at,
                description: None,
            })
            .await
            .unwrap();
        callers.push(Caller {
            label: name,
            token: Some(token),
            info: Some(TokenInfo {
                token_name: name.into(),
                tier,
                expires_at,
                scopes,
            }),
        });
    }

    let distribution = Distribution::new(
        EdgeCheck::new(EdgeConfig::default()),
        registry.clone(),
        url_signer.verifier(),
    );
    let upload = distribution
        .serve(
            http::Request::builder()
                .method("PUT")
                .uri("/v1/modules/acme/vpc/aws/1.0.0")
                .header(
                    "authorization",
                    format!("Bearer {}", callers[2].token.as_ref().unwrap()),
                )
                .body(http_body_util::Full::new(Bytes::from(
                    tfreg_testkit::archive::versioned_module("1.0.0"),
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(upload.status(), 201);
    // The proxy cache holds the same module, as if proxy mode had fetched it once.
    copy_dir(
        &dir.path().join("modules"),
        &proxy_cache_dir.join("modules"),
    );

    World {
        registry,
        distribution,
        edge: EdgeCheck::new(EdgeConfig::default()),
        url_signer,
        callers,
        _dir: dir,
    }
}

/// Path segments: names, what the routes take literally, and what confuses parsers.
fn alphabet() -> Vec<String> {
    let mut segments: Vec<String> = [
        "acme",
        "vpc",
        "aws",
        "1.0.0",
        "module.tar.gz",
        "versions",
        "download",
        "uploads",
        "search",
        "archives",
        "v1",
        "modules",
        "tokens",
        "pins",
        "auth",
        "ui",
        "_proxy",
        "..",
        ".",
        "",
        "%2F",
        "%2e%2e",
        "..%2F",
        "%00",
        "%C3%A9",
        "%E6%A8%A1",
        "master",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    segments.push("a".repeat(300));
    segments.push("é".into());
    segments.push("模块".into());
    segments
}

const PREFIXES: [&str; 11] = [
    "/",
    "/archives/",
    "/archives/_proxy/",
    "/v1/",
    "/v1/modules/",
    "/v1/tokens/",
    "/v1/pins/",
    "/v1/auth/",
    "/ui/",
    "/.well-known/",
    "//",
];

fn generated_paths(rng: &mut StdRng, count: usize) -> Vec<String> {
    let alphabet = alphabet();
    let mut paths: Vec<String> = vec![
        ARCHIVE.into(),
        PROXIED_ARCHIVE.into(),
        "/archives/acme/vpc/aws/1.0.0/../1.0.0/module.tar.gz".into(),
        "/archives/_proxy/../acme/vpc/aws/1.0.0/module.tar.gz".into(),
        "/archives//acme/vpc/aws/1.0.0/module.tar.gz".into(),
        "/archives".into(),
        "/archives/".into(),
        "/v1/modules/acme/vpc/aws/versions".into(),
        "/v1/modules/acme/vpc/aws/1.0.0/download".into(),
        "/v1/modules/acme/vpc/aws/1.0.0".into(),
        "/v1/tokens".into(),
        "/v1/pins".into(),
    ];
    while paths.len() < count {
        let mut path = PREFIXES[rng.gen_range(0..PREFIXES.len())].to_owned();
        let segments = rng.gen_range(0..7);
        let mut parts = Vec::new();
        for _ in 0..segments {
            parts.push(alphabet[rng.gen_range(0..alphabet.len())].clone());
        }
        path.push_str(&parts.join("/"));
        if rng.gen_bool(0.1) {
            path.push('/');
        }
        paths.push(path);
    }
    paths
}

/// The query strings tried on a path: none, a valid signature for it, one for another path,
/// an expired one.
fn queries(signer: &UrlSigner, path: &str, now: u64) -> [String; 4] {
    let resource = |path: &str| format!("https://{HOST}{path}");
    [
        String::new(),
        signer.sign(&resource(path), now + 300),
        signer.sign(&resource(ARCHIVE), now + 300),
        signer.sign(&resource(path), now - 1),
    ]
}

/// What the edge decides, doing the lookup it asks for from what the caller's token is.
fn edge_decision(
    edge: &mut EdgeCheck,
    viewer: &ViewerRequest<'_>,
    caller: &Caller,
    now: u64,
) -> Decision {
    match edge.check(viewer, now) {
        Decision::Lookup { token_hash } => {
            edge.complete(viewer, &token_hash, caller.info.clone(), now)
        }
        decided => decided,
    }
}

async fn origin_status(
    registry: &Registry,
    method: &str,
    path: &str,
    query: &str,
    identity: Option<Identity>,
) -> u16 {
    let request = OriginRequest::from_parts(
        method,
        path,
        query,
        &http::HeaderMap::new(),
        IdentitySource::Checked(identity),
        RequestBody::Empty,
    );
    registry.handle(request).await.status
}

#[tokio::test]
async fn the_edge_and_the_origin_never_disagree_in_a_way_that_escalates() {
    let mut world = world().await;
    let mut rng = StdRng::seed_from_u64(0x7f_5e_18);
    let paths = generated_paths(&mut rng, 260);
    let mut checked = 0u32;
    let mut served_archives = 0u32;
    let mut refused_by_origin_only = 0u32;
    for path in &paths {
        let now = now_unix();
        for query in queries(&world.url_signer, path, now) {
            for method in METHODS {
                let route = Route::parse(method, path);
                let under_archives = path.starts_with("/archives/");
                let signed = world
                    .url_signer
                    .verifier()
                    .verify(&format!("https://{HOST}{path}"), &query, now)
                    .is_ok();
                for caller in &world.callers {
                    let context = format!("{method} {path}?{query} as {}", caller.label);
                    let authorization = caller.token.as_ref().map(|t| format!("Bearer {t}"));
                    let viewer = ViewerRequest {
                        method,
                        path,
                        query: &query,
                        authorization: authorization.as_deref(),
                    };
                    let edge = edge_decision(&mut world.edge, &viewer, caller, now);
                    let edge_allowed = matches!(edge, Decision::Allow { .. });
                    // An archive passes no function: CloudFront's own check of the signed
                    // URL admits it (the trusted key group on `/archives/*`).
                    let allowed = match route {
                        Route::Archive { .. } => signed,
                        _ => edge_allowed,
                    };

                    // The origin, with the identity the edge would pass on for this token (a
                    // live one; an expired or unknown token gets none past the edge).
                    let identity = caller.live(now).then(|| caller.identity()).flatten();
                    let origin =
                        origin_status(&world.registry, method, path, &query, identity).await;
                    if !edge_allowed {
                        assert!(
                            origin >= 400,
                            "{context}: the edge refused ({edge:?}), the origin answered {origin}"
                        );
                    } else if matches!(origin, 401 | 403) {
                        refused_by_origin_only += 1;
                    }

                    // The distribution (`tfreg serve`): the edge, then the archive store or
                    // the origin.
                    let Ok(uri) = format!("{path}?{query}").parse::<http::Uri>() else {
                        continue;
                    };
                    let mut request = http::Request::builder()
                        .method(method)
                        .uri(uri)
                        .header("host", HOST);
                    if let Some(token) = &caller.token {
                        request = request.header("authorization", format!("Bearer {token}"));
                    }
                    let response = world
                        .distribution
                        .serve(request.body(Empty::<Bytes>::new()).unwrap())
                        .await;
                    let status = response.status().as_u16();
                    let is_archive = response
                        .headers()
                        .get("content-type")
                        .is_some_and(|v| v == "application/gzip");
                    let allow = response
                        .headers()
                        .get("allow")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    if status < 400 {
                        assert!(
                            allowed,
                            "{context}: the edge (or the signed URL check) refused ({edge:?}), tfreg serve answered {status}"
                        );
                    }
                    if under_archives && !matches!(method, "GET" | "HEAD") {
                        assert_eq!(status, 405, "{context}: {}", String::from_utf8_lossy(&body));
                        assert_eq!(allow.as_deref(), Some("GET, HEAD"), "{context}");
                    }
                    if under_archives && matches!(method, "GET" | "HEAD") && !signed {
                        assert_eq!(status, 403, "{context}: an archive needs its signature");
                    }
                    if path.starts_with("/archives/_proxy/") {
                        assert!(status >= 400, "{context}: proxy mode is off, got {status}");
                    }
                    if is_archive {
                        assert!(
                            matches!(route, Route::Archive { .. }) && signed && status == 200,
                            "{context}: an archive was served ({status})"
                        );
                        served_archives += 1;
                    }
                    checked += 1;
                }
            }
        }
    }
    // The valid signed GET and HEAD of the uploaded archive, for every caller, at least.
    assert!(
        served_archives >= 2 * world.callers.len() as u32,
        "{served_archives} archives served"
    );
    eprintln!(
        "{checked} requests ({} paths x 4 queries x {} methods x {} callers, less those that \
         are no URI); {served_archives} archives served; {refused_by_origin_only} the edge \
         let through and the origin refused (not an escalation)",
        paths.len(),
        METHODS.len(),
        world.callers.len()
    );
}

/// The archive store through the real `tfreg serve`: GET and HEAD with a valid signature
/// whatever token is sent; any other method `405` with `Allow: GET, HEAD` whatever the token
/// (CloudFront's `/archives/*` behaviour refuses it before any check), never the archive; and
/// the proxy cache path not served while proxy mode is off, signature or not.
#[tokio::test]
async fn tfreg_serve_answers_archives_to_get_and_head_only() {
    let (registry, tokens) = common::registry_with_tokens().await;
    let reply = registry
        .upload(
            "acme/vpc/aws",
            "1.0.0",
            tfreg_testkit::archive::versioned_module("1.0.0"),
            &tokens.uploader,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let download = registry
        .get(
            "/v1/modules/acme/vpc/aws/1.0.0/download",
            Some(&tokens.downloader),
        )
        .await;
    let signed_url = common::as_go_getter_requests(download.header("x-terraform-get").unwrap());
    assert!(
        signed_url.starts_with(&format!("{ARCHIVE}?")),
        "{signed_url}"
    );

    let callers = [
        None,
        Some(tokens.downloader.as_str()),
        Some(tokens.uploader.as_str()),
        Some(tokens.master.as_str()),
        Some("tfr_not_a_real_token"),
    ];
    for token in callers {
        for method in METHODS {
            for url in [signed_url.as_str(), ARCHIVE] {
                let reply = registry.send(method, url, token, None).await;
                let context = format!("{method} {url} with {token:?}");
                let signed = url.contains("Signature=");
                match (method, signed) {
                    ("GET", true) => {
                        assert_eq!(reply.status, 200, "{context}: {}", reply.text());
                        assert_eq!(reply.header("content-type"), Some("application/gzip"));
                        assert!(!reply.body.is_empty(), "{context}");
                    }
                    ("HEAD", true) => {
                        assert_eq!(reply.status, 200, "{context}");
                        assert_eq!(reply.header("content-type"), Some("application/gzip"));
                    }
                    ("GET" | "HEAD", false) => {
                        assert_eq!(reply.status, 403, "{context}: {}", reply.text());
                    }
                    _ => {
                        assert_eq!(reply.status, 405, "{context}: {}", reply.text());
                        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{context}");
                        assert_ne!(reply.header("content-type"), Some("application/gzip"));
                    }
                }
            }
        }
    }

    // A 405 reads no body: a large PUT is refused for its method, not its size.
    let large = vec![0u8; 2 * 1024 * 1024];
    let reply = registry
        .send("PUT", ARCHIVE, Some(&tokens.master), Some(large))
        .await;
    assert_eq!(reply.status, 405, "{}", reply.text());

    // The same archive in the proxy cache, signed for its path there: proxy mode is off, so
    // it is not served.
    let data_dir = registry.stop();
    copy_dir(
        &data_dir.path().join("modules"),
        &data_dir.path().join("proxy-cache/modules"),
    );
    let key = std::fs::read_to_string(data_dir.path().join("url-signing-key.pem")).unwrap();
    let signer = UrlSigner::from_pkcs8_pem(&key, "KTFREGSERVE").unwrap();
    let registry = common::TestRegistry::start_in(data_dir, &[]);
    let proxied = format!(
        "{PROXIED_ARCHIVE}?{}",
        signer.sign(
            &format!("https://{}{PROXIED_ARCHIVE}", registry.host),
            now_unix() + 300
        )
    );
    for method in ["GET", "HEAD"] {
        let reply = registry.send(method, &proxied, None, None).await;
        assert_eq!(
            reply.status,
            404,
            "{method} {proxied}: {} bytes",
            reply.body.len()
        );
    }
    // The same signer still opens the local archive: the 404 is the proxy cache's.
    let local = format!(
        "{ARCHIVE}?{}",
        signer.sign(
            &format!("https://{}{ARCHIVE}", registry.host),
            now_unix() + 300
        )
    );
    assert_eq!(registry.get(&local, None).await.status, 200);
}
