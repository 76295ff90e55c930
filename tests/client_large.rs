//! `tfreg publish` of archives the origin Lambda cannot take in one request: they go through
//! the large-upload path (`POST …/uploads`, a `PUT` to the presigned URL, finalize) on their
//! own. `tfreg serve` has no such path, so a stand-in registry over HTTPS plays the deployed
//! one here: it offers the staged path and refuses direct bodies as the edge does (413).
//! `tfreg provider publish` does the same with a provider release's tar.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// What the stand-in saw: method, path and query, whether it carried a token, body size.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    authorized: bool,
    body_bytes: usize,
}

struct StandIn {
    host: String,
    ca_pem: std::path::PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    _dir: tempfile::TempDir,
}

const TOO_LARGE: &str = "the body is larger than the 4194304 bytes the origin accepts; for a larger archive, POST /v1/modules/acme/big/aws/1.0.0/uploads, PUT the archive to the upload_url it returns, then POST the finalize path it returns";

async fn start_stand_in() -> StandIn {
    let dir = tempfile::tempdir().unwrap();
    let (config, files) =
        tfreg_cloudfront::tls::server_config(&dir.path().join("tls"), [127, 0, 0, 1].into())
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (record, base) = (seen.clone(), format!("https://{host}"));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, record, base) = (acceptor.clone(), record.clone(), base.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| {
                    answer(request, record.clone(), base.clone())
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    StandIn {
        host,
        ca_pem: files.ca_cert,
        seen,
        _dir: dir,
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    base: String,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().to_string();
    let target = request.uri().to_string();
    let authorized = request.headers().contains_key("authorization");
    let body = request.into_body().collect().await?.to_bytes();
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        authorized,
        body_bytes: body.len(),
    });
    let path = target.split('?').next().unwrap_or_default();
    let version = "/v1/modules/acme/big/aws/1.0.0";
    let (status, json) = match (method.as_str(), path) {
        ("GET", "/.well-known/terraform.json") => {
            (200, serde_json::json!({ "modules.v1": "/v1/modules/" }))
        }
        ("PUT", p) if p == version => (
            413,
            serde_json::json!({ "error": "archive_too_large", "code": "archive_too_large",
                "message": TOO_LARGE, "errors": [TOO_LARGE] }),
        ),
        ("POST", p) if p == format!("{version}/uploads") => (
            201,
            serde_json::json!({
                "upload_id": "u1",
                "upload_url": format!("{base}/staging/u1?X-Amz-Signature=abc"),
                "method": "PUT",
                "finalize": format!("{version}/uploads/u1"),
                "max_bytes": 104857600,
            }),
        ),
        ("PUT", "/staging/u1") => (200, serde_json::Value::Null),
        ("POST", p) if p == format!("{version}/uploads/u1") => (
            201,
            serde_json::json!({
                "namespace": "acme", "name": "big", "system": "aws", "version": "1.0.0",
                "source": "acme/big/aws", "sha256": "0".repeat(64), "size": 1, "files": 2,
                "uploaded_at": "2026-01-01T00:00:00Z", "uploader": "master", "origin": "upload",
                "docs_available": true, "parse_errors": [],
            }),
        ),
        ("PUT", "/v1/providers/acme/dns/1.2.0") => (
            413,
            serde_json::json!({ "code": "archive_too_large", "errors": ["too large"] }),
        ),
        ("POST", "/v1/providers/acme/dns/1.2.0/uploads") => (
            201,
            serde_json::json!({
                "upload_id": "p1",
                "upload_url": format!("{base}/staging/p1?X-Amz-Signature=abc"),
                "method": "PUT",
                "finalize": "/v1/providers/acme/dns/1.2.0/uploads/p1",
                "max_bytes": 104857600,
            }),
        ),
        ("PUT", "/staging/p1") => (200, serde_json::Value::Null),
        ("POST", "/v1/providers/acme/dns/1.2.0/uploads/p1") => (
            201,
            serde_json::json!({
                "namespace": "acme", "type": "dns", "version": "1.2.0", "protocols": ["6.0"],
                "platforms": [{"os": "linux", "arch": "amd64"}], "key_id": "0123456789ABCDEF",
            }),
        ),
        _ => (404, serde_json::json!({ "errors": ["not found"] })),
    };
    let body = if json.is_null() {
        Bytes::new()
    } else {
        Bytes::from(json.to_string())
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap())
}

/// Bytes that do not compress, so the archive is as large as the file.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn module_with(dir: &Path, extra: usize) {
    std::fs::write(dir.join("main.tf"), "variable \"x\" {}\n").unwrap();
    if extra > 0 {
        std::fs::write(dir.join("blob.bin"), incompressible(extra)).unwrap();
    }
}

async fn publish(stand_in: &StandIn, dir: &Path) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tfreg"));
    command
        .args(["publish", dir.to_str().unwrap(), "--module", "acme/big/aws"])
        .args([
            "--version",
            "1.0.0",
            "--repository-url",
            "https://example.com/acme/big",
        ])
        .args([
            "--json",
            "--registry",
            &format!("https://{}", stand_in.host),
        ])
        .env_clear()
        .env("HOME", home.path())
        .env("TFREG_CA_FILE", &stand_in.ca_pem)
        .env("TFREG_TOKEN", "tfr_secret");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn staged_requests(seen: &[Seen]) -> (&Seen, &Seen) {
    let put = seen
        .iter()
        .find(|s| s.target.starts_with("/staging/u1"))
        .expect("the archive went to the upload URL");
    let finalize = seen
        .iter()
        .find(|s| {
            s.target
                .starts_with("/v1/modules/acme/big/aws/1.0.0/uploads/u1")
        })
        .expect("the upload was finalized");
    (put, finalize)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_over_the_direct_limit_goes_through_the_staged_path() {
    let stand_in = start_stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    module_with(dir.path(), 5 * 1024 * 1024);
    let output = publish(&stand_in, dir.path()).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let seen = stand_in.seen.lock().unwrap().clone();
    assert!(
        !seen
            .iter()
            .any(|s| s.method == "PUT" && s.target.starts_with("/v1/")),
        "no direct PUT first: {seen:?}"
    );
    let (put, finalize) = staged_requests(&seen);
    assert!(put.body_bytes > 5 * 1024 * 1024, "{put:?}");
    assert!(
        !put.authorized,
        "the registry token never goes to the upload URL"
    );
    assert!(finalize.authorized);
    assert!(
        finalize
            .target
            .contains("repository_url=https%3A%2F%2Fexample.com%2Facme%2Fbig"),
        "{finalize:?}"
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(answer["module_block"]
        .as_str()
        .unwrap()
        .contains("acme/big/aws"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_upload_refused_as_too_large_is_retried_through_the_staged_path() {
    let stand_in = start_stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    module_with(dir.path(), 0);
    let output = publish(&stand_in, dir.path()).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = stand_in.seen.lock().unwrap().clone();
    let direct = seen
        .iter()
        .position(|s| s.method == "PUT" && s.target.starts_with("/v1/modules/"))
        .expect("a direct PUT first");
    let (put, _) = staged_requests(&seen);
    assert!(seen.iter().position(|s| s.target == put.target).unwrap() > direct);
}

/// `tfreg provider publish` of a release over the direct limit: `POST …/uploads`, the tar to
/// the presigned URL (no token), finalize with the protocols; no direct `PUT` first.
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_release_over_the_direct_limit_goes_through_the_staged_path() {
    let stand_in = start_stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("terraform-provider-dns_1.2.0");
    let file = |suffix: &str, bytes: Vec<u8>| {
        std::fs::write(format!("{}{suffix}", prefix.display()), bytes).unwrap()
    };
    file("_linux_amd64.zip", incompressible(5 * 1024 * 1024));
    file("_SHA256SUMS", b"sums\n".to_vec());
    file("_SHA256SUMS.sig", b"sig".to_vec());
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tfreg"));
    command
        .args(["provider", "publish", dir.path().to_str().unwrap()])
        .args(["--provider", "acme/dns", "--version", "1.2.0"])
        .args(["--protocols", "6.0", "--json"])
        .args(["--registry", &format!("https://{}", stand_in.host)])
        .env_clear()
        .env("HOME", home.path())
        .env("TFREG_CA_FILE", &stand_in.ca_pem)
        .env("TFREG_TOKEN", "tfr_secret");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = stand_in.seen.lock().unwrap().clone();
    assert!(
        !seen
            .iter()
            .any(|s| s.method == "PUT" && s.target.starts_with("/v1/")),
        "no direct PUT first: {seen:?}"
    );
    let put = seen
        .iter()
        .find(|s| s.target.starts_with("/staging/p1"))
        .expect("the tar went to the upload URL");
    assert!(put.body_bytes > 5 * 1024 * 1024, "{put:?}");
    assert!(
        !put.authorized,
        "the registry token never goes to the upload URL"
    );
    let finalize = seen
        .iter()
        .find(|s| {
            s.target
                .starts_with("/v1/providers/acme/dns/1.2.0/uploads/p1")
        })
        .expect("the upload was finalized");
    assert!(finalize.authorized);
    assert!(finalize.target.ends_with("?protocols=6.0"), "{finalize:?}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["key_id"], "0123456789ABCDEF");
}
