//! The origin Lambda end to end: the real `bootstrap` binary run as Lambda runs it (polling
//! a Runtime API stand-in) with Lambda Function URL events of the documented shape
//! (tests/fixtures/function-url/*.json, as CloudFront's origin request delivers them after the
//! edge function added the identity and origin-secret headers), on S3 and DynamoDB (moto).
//! The adapter alone, on embedded storage, is tested beside it in origin/src/lambda/.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine;
use tfreg_origin::signed_url::UrlSigner;
use tfreg_testkit::archive::{module_archive, versioned_module};
use tfreg_testkit::{lambda_api, moto};

#[allow(dead_code)]
#[path = "common/providers.rs"]
mod providers;

#[allow(dead_code)]
#[path = "common/mirror_upstream.rs"]
mod mirror_upstream;

#[path = "origin_lambda/init_failures.rs"]
mod init_failures;

#[path = "origin_lambda/mirror.rs"]
mod mirror;

const SECRET: &str = "origin-secret-for-tests";

fn fixture(name: &str, secret: &str, body_base64: &str) -> LambdaFunctionUrlRequest {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/function-url")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("{{ORIGIN_SECRET}}", secret)
        .replace("{{BODY_BASE64}}", body_base64);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `bootstrap` binary as Lambda starts it: the runtime's variables and the function's
/// configuration (storage on `endpoint`), and nothing else from this process's environment.
/// `TFREG_BOOTSTRAP_BIN` runs the tests on the packaged binary (dist/origin.zip).
fn bootstrap_command(
    api: &lambda_api::FakeRuntimeApi,
    endpoint: &str,
    bucket: &str,
    table: &str,
    signing_secret: &str,
) -> std::process::Command {
    let binary = std::env::var("TFREG_BOOTSTRAP_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_owned());
    let mut command = api.function_command(&binary);
    command
        .env("AWS_REGION", moto::REGION)
        .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
        .env("TFREG_S3_BUCKET", bucket)
        .env("TFREG_DYNAMODB_TABLE", table)
        .env("TFREG_URL_SIGNING_SECRET", signing_secret)
        .env("TFREG_ORIGIN_SECRET", SECRET)
        .env("TFREG_ENDPOINT_URL", endpoint);
    command
}

/// Where the registry under test answers: what its signing secret names.
const REGISTRY_URL: &str = "https://registry.example.com";

/// A URL signing secret in moto, as the deployment module writes it (terraform/secrets.tf):
/// its name, and the signer it holds.
async fn signing_secret(
    moto: &moto::Moto,
    sdk: &tfreg_origin::aws::SdkConfig,
) -> (String, UrlSigner) {
    let signer = UrlSigner::generate("K2TESTKEYPAIR");
    let value = serde_json::json!({
        "private_key": signer.private_key_pem(),
        "key_pair_id": signer.key_pair_id(),
        "base_url": REGISTRY_URL,
    });
    (moto.create_secret(sdk, &value.to_string()).await, signer)
}

/// A running `bootstrap`, killed when the test ends (or fails).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real `bootstrap` binary (or the packaged one, see [`bootstrap_command`]), run as Lambda
/// runs it (polling a Runtime API), on S3 and DynamoDB through the real SDK clients against the
/// protocol server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_serves_function_url_events_on_s3_and_dynamodb() {
    let moto = moto::Moto::shared();
    let sdk = moto.sdk_config().await;
    let bucket = moto.create_bucket(&sdk).await;
    let table = moto.create_table(&sdk).await;
    let (secret, signer) = signing_secret(moto, &sdk).await;
    let api = lambda_api::FakeRuntimeApi::start().await;

    let mut bootstrap = bootstrap_command(&api, moto.endpoint(), &bucket, &table, &secret)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting bootstrap");

    let event = |name: &str, body: &str| {
        serde_json::to_value(fixture(name, SECRET, body)).expect("event serialises")
    };
    let archive = base64::engine::general_purpose::STANDARD.encode(versioned_module("1.2.0"));

    let uploaded = respond(api.invoke(event("put-upload.json", &archive)).await);
    assert_eq!(uploaded["statusCode"], 201, "{uploaded}");
    let stored: serde_json::Value =
        serde_json::from_str(uploaded["body"].as_str().unwrap()).unwrap();
    assert_eq!(stored["version"], "1.2.0");

    let versions = respond(api.invoke(event("get-versions.json", "")).await);
    assert_eq!(versions["statusCode"], 200);
    let listed: serde_json::Value =
        serde_json::from_str(versions["body"].as_str().unwrap()).unwrap();
    assert_eq!(listed["modules"][0]["versions"][0]["version"], "1.2.0");

    // The module catalogue, kept in the bucket (`archives/_catalogue/modules.json`), and a
    // search through the query string the Function URL passes on.
    let list = respond(
        api.invoke(event_for("GET", "/v1/modules", "downloader"))
            .await,
    );
    assert_eq!(list["statusCode"], 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(list["body"].as_str().unwrap()).unwrap();
    assert_eq!(list["modules"][0]["id"], "acme/vpc/aws/1.2.0", "{list}");
    let mut search = event_for("GET", "/v1/modules/search", "downloader");
    search["rawQueryString"] = "q=vpc&limit=5".into();
    let search = respond(api.invoke(search).await);
    assert_eq!(search["statusCode"], 200, "{search}");
    let search: serde_json::Value = serde_json::from_str(search["body"].as_str().unwrap()).unwrap();
    assert_eq!(search["meta"]["limit"], 5, "{search}");
    assert_eq!(search["modules"][0]["id"], "acme/vpc/aws/1.2.0", "{search}");
    let catalogue_object = moto::s3_client(&sdk)
        .head_object()
        .bucket(&bucket)
        .key("archives/_catalogue/modules.json")
        .send()
        .await;
    assert!(
        catalogue_object.is_ok(),
        "the catalogue object: {catalogue_object:?}"
    );

    let download = respond(api.invoke(event("get-download.json", "")).await);
    assert_eq!(download["statusCode"], 204);
    let location = download["headers"]["x-terraform-get"].as_str().unwrap();
    assert!(
        location.ends_with(&format!(
            "checksum=sha256:{}",
            stored["sha256"].as_str().unwrap()
        )),
        "{location}"
    );
    // A CloudFront signed URL for the registry's address, from the key in the secret.
    let (resource, query) = location.split_once('?').unwrap();
    assert!(
        resource.starts_with(&format!("{REGISTRY_URL}/archives/")),
        "{location}"
    );
    let signed = query.split("&checksum=").next().unwrap();
    assert_eq!(
        signer
            .verifier()
            .verify(resource, signed, tfreg_origin::now_unix()),
        Ok(())
    );

    let created = respond(api.invoke(event("post-tokens.json", "")).await);
    assert_eq!(created["statusCode"], 201, "{created}");
    let token: serde_json::Value = serde_json::from_str(created["body"].as_str().unwrap()).unwrap();
    let value = token["token_value"].as_str().unwrap();
    // In DynamoDB the token is a hash; its value appears nowhere.
    let items = tfreg_origin::aws::aws_sdk_dynamodb::Client::new(&sdk)
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", items.items());
    assert!(dump.contains(tfreg_edge::hash_token(value).as_hex()));
    assert!(!dump.contains(value), "the token value is not stored");

    let refused = respond(api.invoke(event("get-versions.json", "")).await);
    assert_eq!(refused["statusCode"], 200);
    let mut without_secret = fixture("get-versions.json", "not-the-secret", "");
    without_secret.headers.remove("x-tfreg-origin-secret");
    let refused = respond(
        api.invoke(serde_json::to_value(without_secret).unwrap())
            .await,
    );
    assert_eq!(refused["statusCode"], 403);

    assert!(api.init_errors().is_empty(), "{:?}", api.init_errors());
    let _ = bootstrap.kill();
    let _ = bootstrap.wait();
}

/// The large-upload path on the Lambda's own wiring (the `bootstrap` binary, its staging on
/// S3 and its `TFREG_MAX_STAGED_UPLOAD_BYTES`): ask for an upload URL, PUT the archive to it
/// with curl (as a user would), finalize, and find the version published and the staged
/// object gone; an archive over the limit is `413` with nothing kept; a finalize that fails
/// on the origin's side (its `/tmp` unwritable) is a `503` that keeps the staged object, and
/// finalizing again once the function is healthy publishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_takes_large_uploads_through_staging() {
    let moto = moto::Moto::shared();
    let sdk = moto.sdk_config().await;
    let bucket = moto.create_bucket(&sdk).await;
    let table = moto.create_table(&sdk).await;
    let (secret, _) = signing_secret(moto, &sdk).await;
    let s3 = moto::s3_client(&sdk);
    let api = lambda_api::FakeRuntimeApi::start().await;
    const LIMIT: usize = 256 * 1024;
    let start = |tmp: &std::path::Path| {
        let child = bootstrap_command(&api, moto.endpoint(), &bucket, &table, &secret)
            .env("TFREG_MAX_STAGED_UPLOAD_BYTES", LIMIT.to_string())
            .env("TMPDIR", tmp)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting bootstrap");
        Running(child)
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut bootstrap = start(tmp.path());
    let call = |method: &str, path: &str| {
        let event = event_for(method, path, "uploader");
        async {
            match api.invoke(event).await {
                lambda_api::Outcome::Response(value) => {
                    let body = value["body"].as_str().unwrap_or_default();
                    let body = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
                    (value["statusCode"].as_u64().unwrap(), body)
                }
                lambda_api::Outcome::Error(error) => panic!("the function failed: {error}"),
            }
        }
    };
    let staged_keys = || async {
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(tfreg_origin::aws::DEFAULT_STAGING_PREFIX)
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let put = |url: &str, archive: &[u8]| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), archive).unwrap();
        let curl = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "-X", "PUT"])
            .arg("--upload-file")
            .arg(file.path())
            .arg(url)
            .status()
            .expect("running curl");
        assert!(curl.success(), "curl PUT to the presigned URL failed");
    };
    // Bytes that do not compress: an archive of about `n` bytes.
    let noise = |n: usize| {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect::<String>()
    };
    let archive = |text: &str| {
        module_archive(&[
            ("main.tf", "output \"x\" {\n  value = 1\n}\n"),
            ("data.txt", text),
        ])
    };

    let (status, started) = call("POST", "/v1/modules/acme/big/aws/1.0.0/uploads").await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["max_bytes"], LIMIT, "the function's own limit");
    let finalize = started["finalize"].as_str().unwrap().to_owned();
    // Finalizing before the upload says what to do.
    assert_eq!(call("POST", &finalize).await.0, 404);
    put(
        started["upload_url"].as_str().unwrap(),
        &archive(&noise(LIMIT / 2)),
    );
    assert_eq!(staged_keys().await.len(), 1);

    // The origin fails (its scratch directory in /tmp is gone): a 503 that names no internal
    // detail, no version, and the staged object is kept for the retry.
    std::fs::remove_dir(tmp.path().join("tfreg-scratch")).unwrap();
    let (status, failed) = call("POST", &finalize).await;
    assert_eq!(status, 503, "{failed}");
    assert_eq!(failed["code"], "storage_unavailable", "{failed}");
    assert!(!failed.to_string().contains("No such file"), "{failed}");
    assert_eq!(
        call("GET", "/v1/modules/acme/big/aws/1.0.0/download")
            .await
            .0,
        404
    );
    assert_eq!(
        staged_keys().await.len(),
        1,
        "a 5xx keeps the staged object"
    );

    // A healthy function (a new instance) finalizes the same upload. What a run that Lambda
    // killed mid-request left in the scratch directory is cleared as the function starts.
    drop(bootstrap);
    let tmp = tempfile::tempdir().unwrap();
    let left = tmp
        .path()
        .join("tfreg-scratch/mirror-left-by-a-timeout.zip");
    std::fs::create_dir_all(left.parent().unwrap()).unwrap();
    std::fs::write(&left, b"partial").unwrap();
    bootstrap = start(tmp.path());
    let (status, finalized) = call("POST", &finalize).await;
    assert_eq!(status, 201, "{finalized}");
    assert!(
        !left.exists(),
        "a killed run's scratch file is cleared at start"
    );
    assert_eq!(finalized["uploader"], "ci-uploader");
    let (_, versions) = call("GET", "/v1/modules/acme/big/aws/versions").await;
    assert_eq!(versions["modules"][0]["versions"][0]["version"], "1.0.0");
    assert!(staged_keys().await.is_empty(), "the staged object is gone");
    // Finalizing again finds nothing, and the version cannot be started again.
    assert_eq!(call("POST", &finalize).await.0, 404);
    assert_eq!(
        call("POST", "/v1/modules/acme/big/aws/1.0.0/uploads")
            .await
            .0,
        409
    );

    // Over the function's limit: 413, no version, the staged object removed (settled).
    let (_, started) = call("POST", "/v1/modules/acme/big/aws/2.0.0/uploads").await;
    let large = archive(&noise(LIMIT * 2));
    assert!(large.len() > LIMIT);
    put(started["upload_url"].as_str().unwrap(), &large);
    let (status, refused) = call("POST", started["finalize"].as_str().unwrap()).await;
    assert_eq!(status, 413, "{refused}");
    assert_eq!(refused["code"], "archive_too_large");
    assert_eq!(
        call("GET", "/v1/modules/acme/big/aws/2.0.0/download")
            .await
            .0,
        404
    );
    assert!(staged_keys().await.is_empty(), "a 413 keeps nothing");

    // A staged archive that fails validation is refused and removed.
    let (_, started) = call("POST", "/v1/modules/acme/big/aws/3.0.0/uploads").await;
    put(started["upload_url"].as_str().unwrap(), b"not an archive");
    let finalize = started["finalize"].as_str().unwrap();
    assert_eq!(call("POST", finalize).await.0, 400);
    assert_eq!(call("POST", finalize).await.0, 404);
    assert!(staged_keys().await.is_empty());

    let bad_id = call("POST", "/v1/modules/acme/big/aws/3.0.0/uploads/../x").await;
    assert_eq!(bad_id.0, 404);
    let bad_id = call("POST", "/v1/modules/acme/big/aws/3.0.0/uploads/XYZ").await;
    assert_eq!(bad_id.0, 400);
    assert!(api.init_errors().is_empty(), "{:?}", api.init_errors());
    drop(bootstrap);
}

/// Provider releases on the Lambda's wiring: the master registers a key, and an uploader
/// publishes a release too large for one Function URL request (a 7 MiB zip, over Lambda's
/// 6 MB) through staging: the tar PUT with curl to the presigned URL, then finalize, which
/// checks it as a direct PUT is checked. The files land where CloudFront serves them; a
/// tampered release is refused with nothing kept, staged object included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_publishes_provider_releases_through_staging() {
    use providers::{Gpg, Release};
    let moto = moto::Moto::shared();
    let sdk = moto.sdk_config().await;
    let bucket = moto.create_bucket(&sdk).await;
    let table = moto.create_table(&sdk).await;
    let (secret, _) = signing_secret(moto, &sdk).await;
    let s3 = moto::s3_client(&sdk);
    let api = lambda_api::FakeRuntimeApi::start().await;
    let _bootstrap = Running(
        bootstrap_command(&api, moto.endpoint(), &bucket, &table, &secret)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting bootstrap"),
    );
    let call = |method: &str, path: &str, tier: &str, body: Option<Vec<u8>>| {
        let mut event = event_for(method, path, tier);
        if let Some(body) = body {
            event["body"] = base64::engine::general_purpose::STANDARD
                .encode(body)
                .into();
            event["isBase64Encoded"] = true.into();
        }
        async {
            match api.invoke(event).await {
                lambda_api::Outcome::Response(value) => {
                    let body = value["body"].as_str().unwrap_or_default();
                    let body = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
                    (value["statusCode"].as_u64().unwrap(), body)
                }
                lambda_api::Outcome::Error(error) => panic!("the function failed: {error}"),
            }
        }
    };
    let keys_under = |prefix: &'static str| moto::keys_under(&s3, &bucket, prefix);
    let put = |url: &str, body: &[u8]| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), body).unwrap();
        let curl = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "-X", "PUT"])
            .arg("--upload-file")
            .arg(file.path())
            .arg(url)
            .status()
            .expect("running curl");
        assert!(curl.success(), "curl PUT to the presigned URL failed");
    };

    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let (status, key) = call(
        "POST",
        "/v1/provider-keys/acme",
        "master",
        Some(gpg.public_key().into_bytes()),
    )
    .await;
    assert_eq!(status, 201, "{key}");

    // Bytes that do not compress: the zip stays over 6 MB.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut executable = b"#!/bin/sh\nexit 0\n".to_vec();
    executable.extend((0..7 * 1024 * 1024).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    let release = Release::new("dns", "1.2.0", &["darwin_arm64"]);
    release.put_zip(
        "linux_amd64",
        &[("terraform-provider-dns_v1.2.0", 0o755, &executable)],
    );
    release.sign(&gpg, false);
    let tar = release.tar();
    assert!(tar.len() > 6 * 1024 * 1024, "{} bytes", tar.len());

    let (status, started) = call(
        "POST",
        "/v1/providers/acme/dns/1.2.0/uploads",
        "uploader",
        None,
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let finalize = started["finalize"].as_str().unwrap().to_owned();
    assert!(
        finalize.starts_with("/v1/providers/acme/dns/1.2.0/uploads/"),
        "{finalize}"
    );
    assert_eq!(call("POST", &finalize, "uploader", None).await.0, 404);
    put(started["upload_url"].as_str().unwrap(), &tar);
    assert_eq!(keys_under("staging/_providers/").await.len(), 1);
    let (status, published) = call("POST", &finalize, "uploader", None).await;
    assert_eq!(status, 201, "{published}");
    assert_eq!(published["key_id"], gpg.key_id());
    assert_eq!(published["publisher"], "ci-uploader");
    assert!(
        keys_under("staging/").await.is_empty(),
        "the staged tar is gone"
    );

    let (status, versions) =
        call("GET", "/v1/providers/acme/dns/versions", "downloader", None).await;
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions["versions"][0]["version"], "1.2.0");
    let (status, download) = call(
        "GET",
        "/v1/providers/acme/dns/1.2.0/download/linux/amd64",
        "downloader",
        None,
    )
    .await;
    assert_eq!(status, 200, "{download}");
    assert_eq!(download["shasum"], release.zip_sha256("linux_amd64"));
    // The signed URL names the object CloudFront serves from the bucket.
    let url = download["download_url"].as_str().unwrap();
    let path = url
        .strip_prefix(REGISTRY_URL)
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_else(|| panic!("{url}"));
    assert!(
        path.starts_with("/archives/_providers/acme/dns/1.2.0/"),
        "{path}"
    );
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&path[1..])
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(release.path(&release.zip_name("linux_amd64"))).unwrap()
    );
    assert_eq!(
        call(
            "POST",
            "/v1/providers/acme/dns/1.2.0/uploads",
            "uploader",
            None
        )
        .await
        .0,
        409,
        "a release is immutable"
    );

    // A zip that does not match SHA256SUMS: refused, nothing of it kept.
    let tampered = Release::new("dns", "1.3.0", &["linux_amd64"]);
    tampered.sign(&gpg, false);
    tampered.put_zip(
        "linux_amd64",
        &[("terraform-provider-dns_v1.3.0", 0o755, b"#!/bin/sh\nevil\n")],
    );
    let (_, started) = call(
        "POST",
        "/v1/providers/acme/dns/1.3.0/uploads",
        "uploader",
        None,
    )
    .await;
    put(started["upload_url"].as_str().unwrap(), &tampered.tar());
    let (status, refused) = call(
        "POST",
        started["finalize"].as_str().unwrap(),
        "uploader",
        None,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        keys_under("staging/").await.is_empty(),
        "a refused release's tar is removed"
    );
    assert!(keys_under("providers/acme/dns/1.3.0/").await.is_empty());
    assert!(keys_under("archives/_providers/acme/dns/1.3.0/")
        .await
        .is_empty());
    assert!(api.init_errors().is_empty(), "{:?}", api.init_errors());
}

/// The function's answer to an invocation; a function error fails the test.
fn respond(outcome: lambda_api::Outcome) -> serde_json::Value {
    match outcome {
        lambda_api::Outcome::Response(value) => value,
        lambda_api::Outcome::Error(error) => panic!("the function failed: {error}"),
    }
}

/// A Function URL event for `method path` as a token of `tier`, without a body.
fn event_for(method: &str, path: &str, tier: &str) -> serde_json::Value {
    let mut event = fixture("get-download.json", SECRET, "");
    event.raw_path = Some(path.into());
    event.request_context.http.path = Some(path.into());
    event.request_context.http.method = Some(method.into());
    event.headers.insert(
        "x-tfreg-identity",
        format!("token=ci-{tier};tier={tier}").parse().unwrap(),
    );
    serde_json::to_value(event).expect("event serialises")
}

/// Proxy mode and pinning in the Lambda, configured by the `TFREG_PROXY_*` variables that
/// `tfreg serve` reads too: a proxied download is cached beneath `archives/_proxy/`, and a pin
/// lands among the uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_proxies_and_pins_with_the_proxy_environment() {
    use tfreg_testkit::upstream::{Download, Repo, StandIns};
    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    let upstream = StandIns::start().await;
    let files = Repo::files(&[
        ("main.tf", "# consul root\n"),
        ("modules/sub/main.tf", "# consul sub\n"),
    ]);
    upstream
        .repo("hashicorp", "terraform-aws-consul", SHA, files.clone())
        .repo("acme-oss", "modules", "v2.0.0", files)
        .module(
            "hashicorp/consul/aws",
            [(
                "0.2.0",
                Download::git("hashicorp", "terraform-aws-consul", SHA),
            )],
        )
        .module(
            "acme-oss/sub/aws",
            [(
                "2.0.0",
                Download::github_archive("acme-oss", "modules", "v2.0.0", "modules/sub"),
            )],
        );

    let moto = moto::Moto::shared();
    let sdk = moto.sdk_config().await;
    let bucket = moto.create_bucket(&sdk).await;
    let table = moto.create_table(&sdk).await;
    let (secret, _) = signing_secret(moto, &sdk).await;
    let api = lambda_api::FakeRuntimeApi::start().await;
    let _bootstrap = Running(
        bootstrap_command(&api, moto.endpoint(), &bucket, &table, &secret)
            .env("TFREG_PROXY_ENABLED", "true")
            .env("TFREG_PROXY_UPSTREAM", upstream.registry_url())
            .env("TFREG_PROXY_GITHUB_ARCHIVE_URL", upstream.github_url())
            .env("TFREG_PROXY_ALLOW_LIST", "hashicorp,acme-oss")
            .env("TFREG_PROXY_DENY_LIST", "hashicorp/vault")
            .env("TFREG_PROXY_LOCAL_ONLY", "acme")
            .env("TFREG_PROXY_TIMEOUT_SECS", "10")
            .env("TFREG_PROXY_MAX_ARCHIVE_BYTES", "1048576")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting bootstrap"),
    );
    let s3 = moto::s3_client(&sdk);

    let download = respond(
        api.invoke(event_for(
            "GET",
            "/v1/modules/hashicorp/consul/aws/0.2.0/download",
            "downloader",
        ))
        .await,
    );
    assert_eq!(download["statusCode"], 204, "{download}");
    let location = download["headers"]["x-terraform-get"].as_str().unwrap();
    assert!(
        location.starts_with(&format!(
            "{REGISTRY_URL}/archives/_proxy/hashicorp/consul/aws/0.2.0/module.tar.gz?"
        )) && location.contains("&checksum=sha256:"),
        "{location}"
    );
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("archives/_proxy/hashicorp/consul/aws/0.2.0/module.tar.gz")
        .send()
        .await
        .expect("the proxied archive is cached in the bucket");
    assert_eq!(head.metadata().unwrap()["source"], "proxy");
    assert!(location.ends_with(&head.metadata().unwrap()["sha256"]));
    assert_eq!(
        upstream.github_requests(),
        [format!("GET /hashicorp/terraform-aws-consul/tar.gz/{SHA}")]
    );

    // The policy from the environment holds: denied and local-only modules are not fetched.
    upstream.clear_requests();
    for (path, code) in [
        (
            "/v1/modules/hashicorp/vault/aws/1.0.0/download",
            "not_allowed_by_proxy_policy",
        ),
        ("/v1/modules/acme/private/aws/versions", "not_found"),
    ] {
        let refused = respond(api.invoke(event_for("GET", path, "downloader")).await);
        assert_eq!(refused["statusCode"], 404, "{path}: {refused}");
        let body: serde_json::Value =
            serde_json::from_str(refused["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["code"], code, "{path}: {body}");
    }
    assert_eq!(upstream.registry_requests(), Vec::<String>::new());

    let pinned = respond(
        api.invoke(event_for(
            "POST",
            "/v1/pins/acme-oss/sub/aws/2.0.0",
            "master",
        ))
        .await,
    );
    assert_eq!(pinned["statusCode"], 201, "{pinned}");
    let pin: serde_json::Value = serde_json::from_str(pinned["body"].as_str().unwrap()).unwrap();
    assert_eq!(pin["pinned_by"], "ci-master");
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("archives/acme-oss/sub/aws/2.0.0/module.tar.gz")
        .send()
        .await
        .expect("the pinned archive is among the uploads");
    assert_eq!(head.metadata().unwrap()["source"], "pin");
    assert_eq!(
        head.metadata().unwrap()["origin-url"],
        pin["source_url"].as_str().unwrap()
    );
    let listed = respond(api.invoke(event_for("GET", "/v1/pins", "master")).await);
    assert_eq!(listed["statusCode"], 200, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(listed["body"].as_str().unwrap()).unwrap();
    assert_eq!(listed["pins"][0]["version"], "2.0.0", "{listed}");

    assert!(api.init_errors().is_empty(), "{:?}", api.init_errors());
}
