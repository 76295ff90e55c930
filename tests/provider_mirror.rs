//! The provider network mirror through the real `tfreg serve` and the real Terraform CLI: a
//! stand-in provider registry and release host on loopback (with their own GPG key), a
//! `provider_installation { network_mirror { … } }` CLI configuration, `terraform init`
//! installing a public provider through the mirror, and again with the stand-ins gone; then
//! every way an upstream release can be wrong, each refused with nothing kept.

mod common;

use common::mirror_upstream::{signed_release, Upstream, HOST, PROVIDER};
use common::providers::{zip_of, Gpg, Release};
use common::terraform::{terraform_clis, terraform_init_with_config, TerraformRun};
use common::{terraform_binary, Reply, TestRegistry};
use serde_json::json;

/// `tfreg serve`'s flags for the stand-ins (and a denied provider).
fn mirror_args(upstream: &Upstream) -> Vec<String> {
    vec![
        "--provider-mirror-upstream".into(),
        format!("{HOST}={}", upstream.registry.url()),
        "--provider-mirror-download-hosts".into(),
        upstream.releases.url().to_owned(),
        "--provider-mirror-deny".into(),
        format!("{HOST}/acme/blocked"),
        "--proxy-versions-ttl".into(),
        "0".into(),
    ]
}

fn start_registry(upstream: &Upstream) -> TestRegistry {
    let args = mirror_args(upstream);
    TestRegistry::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn init_through_mirror(
    terraform: &std::path::Path,
    registry: &TestRegistry,
    token: Option<&str>,
    version: &str,
) -> TerraformRun {
    let main_tf = format!(
        "terraform {{\n  required_providers {{\n    dns = {{\n      source  = \"{HOST}/{PROVIDER}\"\n      version = \"{version}\"\n    }}\n  }}\n}}\n"
    );
    let mirror = format!(
        "provider_installation {{\n  network_mirror {{\n    url = \"https://{}/v1/mirror/\"\n  }}\n}}\n",
        registry.host
    );
    tokio::task::block_in_place(|| {
        terraform_init_with_config(terraform, registry, &main_tf, token, &mirror)
    })
}

async fn prefetch(registry: &TestRegistry, version: &str, platforms: &[&str]) -> Reply {
    registry
        .send(
            "POST",
            &format!("/v1/mirror/{HOST}/{PROVIDER}/{version}"),
            Some(&registry.master_token),
            Some(json!({ "platforms": platforms }).to_string().into_bytes()),
        )
        .await
}

/// Nothing of `version` is kept: no directory in the mirror store, nothing left in staging.
fn nothing_kept(registry: &TestRegistry, version: &str) {
    let dir = registry
        .data_dir
        .path()
        .join("mirror")
        .join(HOST)
        .join(PROVIDER)
        .join(version);
    assert!(!dir.exists(), "{} exists", dir.display());
    let staging: Vec<_> = std::fs::read_dir(registry.data_dir.path().join("staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("mirror-"))
        .collect();
    assert!(staging.is_empty(), "left in staging: {staging:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_init_installs_a_public_provider_through_the_mirror() {
    let upstream = Upstream::start().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let platforms = ["linux_amd64", "darwin_arm64"];
    let old = signed_release("1.1.0", &platforms, &gpg);
    upstream.publish(&old, &platforms, &gpg);
    let release = signed_release("1.2.0", &platforms, &gpg);
    upstream.publish(&release, &platforms, &gpg);
    let registry = start_registry(&upstream);
    let downloader = registry.create_token("dl", "downloader").await;

    let index = registry
        .get(
            &format!("/v1/mirror/{HOST}/{PROVIDER}/index.json"),
            Some(&downloader),
        )
        .await;
    assert_eq!(index.status, 200, "{}", index.text());
    assert_eq!(
        index.json(),
        json!({"versions": {"1.1.0": {}, "1.2.0": {}}})
    );
    // Before any package is kept: the `zh:` hash of the upstream's signed SHA256SUMS.
    let listed = registry
        .get(
            &format!("/v1/mirror/{HOST}/{PROVIDER}/1.2.0.json"),
            Some(&downloader),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let archives = &listed.json()["archives"];
    for platform in platforms {
        assert_eq!(
            archives[platform]["hashes"],
            json!([format!("zh:{}", release.zip_sha256(platform))]),
            "{platform}"
        );
        // Not kept yet: the origin's own package route, signed (Terraform sends no token
        // there), which fetches the package and then redirects to where it is kept.
        let url = archives[platform]["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!(
                "/v1/mirror/{HOST}/{PROVIDER}/1.2.0/{platform}.zip?Expires="
            )),
            "{url}"
        );
    }
    // The package route takes no request it did not sign, and fetches nothing for one.
    let signed = archives["linux_amd64"]["url"].as_str().unwrap().to_owned();
    let unsigned = registry.get(signed.split('?').next().unwrap(), None).await;
    assert_eq!(unsigned.status, 403, "{}", unsigned.text());
    assert_eq!(unsigned.json()["code"], "unsigned_url");
    let elsewhere = registry
        .get(&signed.replace("linux_amd64", "darwin_arm64"), None)
        .await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.text());
    assert_eq!(elsewhere.json()["code"], "invalid_signature");
    // (The release host served SHA256SUMS and its signature for the answer above, no zip.)
    assert!(upstream
        .releases
        .requests()
        .iter()
        .all(|r| !r.contains(".zip")));
    nothing_kept(&registry, "1.2.0");
    // No token, no mirror (Terraform sends the mirror host's credentials).
    let anonymous = registry
        .get(&format!("/v1/mirror/{HOST}/{PROVIDER}/index.json"), None)
        .await;
    assert_eq!(anonymous.status, 401);

    let run = init_through_mirror(&terraform_binary(), &registry, Some(&downloader), "~> 1.2");
    assert!(
        run.succeeded(),
        "{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        registry.logs()
    );
    let lock = run.file(".terraform.lock.hcl");
    assert!(
        lock.contains(&format!("provider \"{HOST}/{PROVIDER}\"")),
        "{lock}"
    );
    assert!(lock.contains("version     = \"1.2.0\""), "{lock}");
    let installed = run.dir.path().join(format!(
        ".terraform/providers/{HOST}/{PROVIDER}/1.2.0/linux_amd64/terraform-provider-dns_v1.2.0"
    ));
    assert!(installed.exists(), "{}", installed.display());

    // Now kept: the answer names its h1 too, the very hash Terraform computed and locked
    // (Terraform 1.0.3 locks only the h1 it computes for a package from a network mirror,
    // after checking the package against the hashes the mirror named).
    let listed = registry
        .get(
            &format!("/v1/mirror/{HOST}/{PROVIDER}/1.2.0.json"),
            Some(&downloader),
        )
        .await
        .json();
    // Kept: its signed archive URL, served with no upstream request and no fetch route.
    let kept_url = listed["archives"]["linux_amd64"]["url"].as_str().unwrap();
    assert!(
        kept_url.starts_with(&format!(
            "/archives/_mirror/{HOST}/{PROVIDER}/1.2.0/linux_amd64/{}?",
            release.zip_name("linux_amd64")
        )),
        "{kept_url}"
    );
    let kept = registry.get(kept_url, None).await;
    assert_eq!(kept.status, 200);
    let zip_path = release.path(&release.zip_name("linux_amd64"));
    assert_eq!(kept.body, std::fs::read(zip_path).unwrap());
    // The fetch route, signed before the package was kept, now only redirects to it.
    let again = registry.get(&signed, None).await;
    assert_eq!(again.status, 302, "{}", again.text());
    let location = again.headers["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!(
            "/archives/_mirror/{HOST}/{PROVIDER}/1.2.0/linux_amd64/"
        )),
        "{location}"
    );
    let hashes = listed["archives"]["linux_amd64"]["hashes"].clone();
    let h1 = hashes[0].as_str().unwrap().to_owned();
    assert!(h1.starts_with("h1:"), "{hashes}");
    assert_eq!(
        hashes[1],
        format!("zh:{}", release.zip_sha256("linux_amd64"))
    );
    assert!(lock.contains(&format!("\"{h1}\"")), "{h1} not in\n{lock}");

    // Ahead of time: darwin_arm64 through the client command, then again by the API (kept).
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("master");
    std::fs::write(&token_file, &registry.master_token).unwrap();
    let out = std::process::Command::new(common::tfreg_binary())
        .args(["provider", "mirror", &format!("{HOST}/{PROVIDER}"), "1.2.0"])
        .args([
            "--platforms",
            "darwin_arm64",
            "--registry",
            &registry.url(""),
        ])
        .args(["--ca-file", registry.ca_pem.to_str().unwrap()])
        .args(["--token-file", token_file.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("darwin_arm64  fetched  h1:"), "{stdout}");
    let again = prefetch(&registry, "1.2.0", &["darwin_arm64", "linux_amd64"]).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["packages"][0]["fetched"], false);
    assert_eq!(
        prefetch(&registry, "1.2.0", &["linux_amd64"]).await.status,
        200
    );
    let downloader_prefetch = registry
        .send(
            "POST",
            &format!("/v1/mirror/{HOST}/{PROVIDER}/1.2.0"),
            Some(&downloader),
            Some(b"{\"platforms\":[\"linux_amd64\"]}".to_vec()),
        )
        .await;
    assert_eq!(downloader_prefetch.status, 403);

    // The upstream gone: what is kept is still served, to every Terraform.
    let upstream_requests = upstream.registry.requests().len();
    upstream.registry.shutdown().await;
    upstream.releases.shutdown().await;
    let index = registry
        .get(
            &format!("/v1/mirror/{HOST}/{PROVIDER}/index.json"),
            Some(&downloader),
        )
        .await;
    assert_eq!(index.status, 200, "{}", index.text());
    assert_eq!(index.json(), json!({"versions": {"1.2.0": {}}}));
    let clis = terraform_clis();
    for (terraform, version) in &clis {
        let run = init_through_mirror(terraform, &registry, Some(&downloader), "1.2.0");
        assert!(
            run.succeeded(),
            "{version}: {}\n{}",
            run.stdout(),
            run.stderr()
        );
        let lock = run.file(".terraform.lock.hcl");
        assert!(
            lock.contains(&format!("\"{h1}\"")),
            "{version}: {h1} not in\n{lock}"
        );
    }
    assert!(upstream.registry.requests().len() == upstream_requests);
    // Without the mirror host's credentials, Terraform gets nothing.
    let run = init_through_mirror(&terraform_binary(), &registry, None, "1.2.0");
    assert!(!run.succeeded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_upstream_releases_are_refused_and_nothing_is_kept() {
    let upstream = Upstream::start().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let other = Gpg::new("Someone Else <other@example.test>");
    let linux = ["linux_amd64"];

    // The zip changed after SHA256SUMS was written and signed.
    let swapped = signed_release("2.0.0", &linux, &gpg);
    let script: &[u8] = b"#!/bin/sh\necho evil\n";
    swapped.put_zip(
        "linux_amd64",
        &[("terraform-provider-dns_v2.0.0", 0o755, script)],
    );
    upstream.publish(&swapped, &linux, &gpg);
    // SHA256SUMS changed after it was signed: the signature does not verify.
    let resummed = signed_release("2.1.0", &linux, &gpg);
    let mut sums = std::fs::read(resummed.path(&resummed.shasums_name())).unwrap();
    sums.extend_from_slice(format!("{}  extra.zip\n", "0".repeat(64)).as_bytes());
    std::fs::write(resummed.path(&resummed.shasums_name()), sums).unwrap();
    upstream.publish(&resummed, &linux, &gpg);
    // Signed by a key the upstream's answer does not name.
    let foreign = signed_release("2.2.0", &linux, &other);
    upstream.publish(&foreign, &linux, &gpg);
    // A package whose executable is not the provider's.
    let misnamed = Release::new("dns", "2.3.0", &[]);
    std::fs::write(
        misnamed.path(&misnamed.zip_name("linux_amd64")),
        zip_of(&[("terraform-provider-dnsx", 0o755, script)]),
    )
    .unwrap();
    misnamed.sign(&gpg, false);
    upstream.publish(&misnamed, &linux, &gpg);
    let registry = start_registry(&upstream);

    let cases = [
        (
            "2.0.0",
            "upstream_checksum_mismatch",
            "does not match the signed SHA256SUMS",
        ),
        (
            "2.1.0",
            "upstream_signature_invalid",
            "does not verify with key",
        ),
        (
            "2.2.0",
            "upstream_signature_invalid",
            "which is not registered for namespace",
        ),
        (
            "2.3.0",
            "upstream_package_invalid",
            "is not the provider executable",
        ),
    ];
    for (version, code, words) in cases {
        let reply = prefetch(&registry, version, &linux).await;
        assert_eq!(reply.status, 502, "{version}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["code"], code, "{version}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(words), "{version}: {message}");
        nothing_kept(&registry, version);
    }
    // A bad signature fails the version's document too; a zip that does not match fails the
    // archive request, and so Terraform's install, with nothing kept.
    let downloader = registry.create_token("dl", "downloader").await;
    let listed = registry
        .get(
            &format!("/v1/mirror/{HOST}/{PROVIDER}/2.1.0.json"),
            Some(&downloader),
        )
        .await;
    assert_eq!(listed.status, 502, "{}", listed.text());
    let run = init_through_mirror(&terraform_binary(), &registry, Some(&downloader), "2.0.0");
    assert!(!run.succeeded(), "{}", run.stdout());
    nothing_kept(&registry, "2.0.0");

    // Deny wins on whole segments; an unknown host is not fetched at all.
    let denied = registry
        .get(
            &format!("/v1/mirror/{HOST}/acme/blocked/index.json"),
            Some(&downloader),
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    let unknown = registry
        .get(
            "/v1/mirror/registry.terraform.io/hashicorp/aws/index.json",
            Some(&downloader),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert!(upstream
        .registry
        .requests()
        .iter()
        .all(|r| !r.contains("blocked")));
}

/// With a versions TTL (the default), a version's document reuses the `SHA256SUMS` it checked
/// (releases do not change) instead of asking the upstream again each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_documents_reuse_the_checked_checksums_for_the_versions_ttl() {
    let upstream = Upstream::start().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let platforms = ["linux_amd64", "darwin_arm64"];
    let release = signed_release("1.2.0", &platforms, &gpg);
    upstream.publish(&release, &platforms, &gpg);
    let mut args = mirror_args(&upstream);
    let ttl = args
        .iter()
        .position(|a| a == "--proxy-versions-ttl")
        .unwrap();
    args[ttl + 1] = "300".into();
    let registry = TestRegistry::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let downloader = registry.create_token("dl", "downloader").await;
    let sums_fetched = || {
        upstream
            .releases
            .requests()
            .iter()
            .filter(|r| r.contains("SHA256SUMS"))
            .count()
    };
    let path = format!("/v1/mirror/{HOST}/{PROVIDER}/1.2.0.json");
    let first = registry.get(&path, Some(&downloader)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(sums_fetched(), 2, "SHA256SUMS and its signature");
    let again = registry.get(&path, Some(&downloader)).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["archives"]["darwin_arm64"]["hashes"],
        first.json()["archives"]["darwin_arm64"]["hashes"]
    );
    assert_eq!(sums_fetched(), 2, "nothing asked again");
}

/// Mirroring ahead of time is bounded as a whole by the mirror's timeout (on AWS one origin
/// invocation runs it, and must answer before the function's own timeout): a slow release host
/// stops the request at the limit with `504`, naming what was kept before it, which stays kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefetch_is_bounded_as_a_whole_by_the_mirror_timeout() {
    let upstream = Upstream::start().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let platforms = ["linux_amd64", "darwin_arm64"];
    let release = signed_release("1.2.0", &platforms, &gpg);
    upstream.publish(&release, &platforms, &gpg);
    // Each zip takes 2 s: each platform alone is within the 3 s limit, the two together not.
    upstream
        .releases
        .delay(".zip", std::time::Duration::from_secs(2));
    let mut args = mirror_args(&upstream);
    args.extend(["--provider-mirror-timeout".into(), "3".into()]);
    let registry = TestRegistry::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let reply = prefetch(&registry, "1.2.0", &platforms).await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["code"], "upstream_timeout", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("at darwin_arm64; kept before it: [linux_amd64]"),
        "{message}"
    );
    let kept = prefetch(&registry, "1.2.0", &["linux_amd64"]).await;
    assert_eq!(kept.status, 200, "{}", kept.text());
    assert_eq!(kept.json()["packages"][0]["fetched"], false);
}

/// `tfreg serve --backend aws`: packages kept in the archives' bucket (moto here), beside the
/// module archives, and served from there once the upstream is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_keeps_packages_in_s3_with_the_aws_backend() {
    use tfreg_testkit::moto::{self, Moto};
    let upstream = Upstream::start().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let release = signed_release("1.2.0", &["linux_amd64"], &gpg);
    upstream.publish(&release, &["linux_amd64"], &gpg);
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let (bucket, table) = (
        moto.create_bucket(&config).await,
        moto.create_table(&config).await,
    );
    let mut args: Vec<String> = common::aws_backend_args(&bucket, &table, moto.endpoint())
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    args.extend(mirror_args(&upstream));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let registry = TestRegistry::start_with_env(&args, &moto::PROCESS_ENV);

    let reply = prefetch(&registry, "1.2.0", &["linux_amd64"]).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let zip = format!(
        "archives/_mirror/{HOST}/{PROVIDER}/1.2.0/linux_amd64/{}",
        release.zip_name("linux_amd64")
    );
    let head = moto::s3_client(&config)
        .head_object()
        .bucket(&bucket)
        .key(&zip)
        .send()
        .await
        .expect("the package is in the bucket under its /archives/ path");
    assert_eq!(
        head.content_length(),
        Some(
            std::fs::metadata(release.path(&release.zip_name("linux_amd64")))
                .unwrap()
                .len() as i64
        )
    );
    upstream.registry.shutdown().await;
    upstream.releases.shutdown().await;
    let downloader = registry.create_token("dl", "downloader").await;
    let run = init_through_mirror(&terraform_binary(), &registry, Some(&downloader), "1.2.0");
    assert!(run.succeeded(), "{}\n{}", run.stdout(), run.stderr());
    assert!(!registry
        .data_dir
        .path()
        .join("mirror/registry.example.test")
        .exists());
}
