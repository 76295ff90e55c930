//! Private providers (the provider registry protocol) through the real `tfreg serve` and the
//! real Terraform CLI: a key registered by the master, a release signed with Debian's `gpg`
//! published by an uploader, and `terraform init` installing it (Terraform checks the
//! signature and the hashes itself); then every way a release can be wrong, each refused with
//! nothing left behind.

mod common;

use common::providers::{Gpg, Release};
use common::terraform::{terraform_clis, terraform_init, terraform_init_with};
use common::{aws_backend_args, registry_with_tokens, Reply, TestRegistry, Tokens};
use tfreg_testkit::moto::{self, Moto};

const PROVIDER: &str = "acme/dns";

async fn register_key(registry: &TestRegistry, token: &str, gpg: &Gpg) -> Reply {
    registry
        .send(
            "POST",
            "/v1/provider-keys/acme",
            Some(token),
            Some(gpg.public_key().into_bytes()),
        )
        .await
}

async fn publish(registry: &TestRegistry, token: &str, version: &str, body: Vec<u8>) -> Reply {
    registry
        .send(
            "PUT",
            &format!("/v1/providers/{PROVIDER}/{version}"),
            Some(token),
            Some(body),
        )
        .await
}

fn required_providers(registry: &TestRegistry, version: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    dns = {{\n      source  = \"{}/{PROVIDER}\"\n      version = \"{version}\"\n    }}\n  }}\n}}\n",
        registry.host
    )
}

/// Nothing of `version` is visible: no version list (or one without it), and no directory in
/// the data directory.
async fn nothing_published(registry: &TestRegistry, tokens: &Tokens, version: &str) {
    let versions = registry
        .get(
            &format!("/v1/providers/{PROVIDER}/versions"),
            Some(&tokens.downloader),
        )
        .await;
    if versions.status == 200 {
        let listed = versions.json()["versions"].to_string();
        assert!(!listed.contains(&format!("\"{version}\"")), "{listed}");
    } else {
        assert_eq!(versions.status, 404, "{}", versions.text());
    }
    let dir = registry
        .data_dir
        .path()
        .join("providers/acme/dns")
        .join(version);
    assert!(!dir.exists(), "{} exists", dir.display());
    let staging: Vec<_> = std::fs::read_dir(registry.data_dir.path().join("staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("provider-"))
        .collect();
    assert!(staging.is_empty(), "left in staging: {staging:?}");
}

#[tokio::test]
async fn terraform_init_installs_a_signed_private_provider() {
    let (registry, tokens) = registry_with_tokens().await;
    installs_a_signed_private_provider(&registry, &tokens).await;
}

/// The same through `tfreg serve --backend aws` (S3 and DynamoDB on moto): the release's files
/// land under `archives/_providers/`, where CloudFront serves them, beneath the publish
/// attempt's own prefix, and its record under `providers/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_init_installs_a_signed_private_provider_over_s3() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let bucket = moto.create_bucket(&config).await;
    let table = moto.create_table(&config).await;
    let registry = TestRegistry::start_with_env(
        &aws_backend_args(&bucket, &table, moto.endpoint()),
        &moto::PROCESS_ENV,
    );
    let tokens = Tokens {
        downloader: registry.create_token("dl", "downloader").await,
        uploader: registry.create_token("up", "uploader").await,
        master: registry.master_token.clone(),
    };
    installs_a_signed_private_provider(&registry, &tokens).await;
    let listed = moto::s3_client(&config)
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(
        keys.contains(&"providers/acme/dns/1.2.0/release.json"),
        "{keys:?}"
    );
    let files: Vec<&&str> = keys
        .iter()
        .filter(|k| k.starts_with("archives/_providers/acme/dns/1.2.0/"))
        .collect();
    assert_eq!(
        files.len(),
        4,
        "two zips, SHA256SUMS and its signature: {files:?}"
    );
    assert!(
        keys.iter().any(|k| k.starts_with("provider-keys/acme/")),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.starts_with("staging/")), "{keys:?}");
}

async fn installs_a_signed_private_provider(registry: &TestRegistry, tokens: &Tokens) {
    let discovery = registry
        .get("/.well-known/terraform.json", None)
        .await
        .json();
    assert_eq!(discovery["providers.v1"], "/v1/providers/");

    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let reply = register_key(registry, &tokens.master, &gpg).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["key_id"], gpg.key_id());

    let release = Release::new("dns", "1.2.0", &["linux_amd64", "darwin_arm64"]);
    // An ASCII-armored signature: the registry serves it binary, as Terraform reads it.
    release.sign(&gpg, true);
    let reply = publish(registry, &tokens.uploader, "1.2.0", release.tar()).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let published = reply.json();
    assert_eq!(published["key_id"], gpg.key_id());
    assert_eq!(published["protocols"], serde_json::json!(["5.0"]));

    let versions = registry
        .get(
            &format!("/v1/providers/{PROVIDER}/versions"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(versions.status, 200, "{}", versions.text());
    assert_eq!(
        versions.json(),
        serde_json::json!({"versions": [{"version": "1.2.0", "protocols": ["5.0"], "platforms": [
            {"os": "darwin", "arch": "arm64"}, {"os": "linux", "arch": "amd64"}]}]})
    );
    let download = registry
        .get(
            &format!("/v1/providers/{PROVIDER}/1.2.0/download/linux/amd64"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(download.status, 200, "{}", download.text());
    let answer = download.json();
    assert_eq!(answer["os"], "linux");
    assert_eq!(answer["arch"], "amd64");
    assert_eq!(answer["filename"], release.zip_name("linux_amd64"));
    assert_eq!(answer["shasum"], release.zip_sha256("linux_amd64"));
    let keys = &answer["signing_keys"]["gpg_public_keys"];
    assert_eq!(keys[0]["key_id"], gpg.key_id());
    assert!(keys[0]["ascii_armor"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    // The signed URLs need no token (Terraform sends none), and the signature is binary.
    let signature = registry
        .get(answer["shasums_signature_url"].as_str().unwrap(), None)
        .await;
    assert_eq!(signature.status, 200);
    assert_ne!(signature.body[0], b'-', "binary, not armored");
    let shasums = registry
        .get(answer["shasums_url"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        shasums.body,
        std::fs::read(release.path(&release.shasums_name())).unwrap()
    );
    let zip = registry
        .get(answer["download_url"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        zip.body,
        std::fs::read(release.path(&release.zip_name("linux_amd64"))).unwrap()
    );
    let unsigned = answer["download_url"]
        .as_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    assert_eq!(registry.get(unsigned, None).await.status, 403);

    // Every Terraform CLI the tests have checks the signature and the hashes itself.
    for (terraform, version) in terraform_clis() {
        let run = terraform_init_with(
            &terraform,
            registry,
            &required_providers(registry, "~> 1.2"),
            Some(&tokens.downloader),
        );
        assert!(
            run.succeeded(),
            "{version}:\n{}\n{}",
            run.stdout(),
            run.stderr()
        );
        let lock = run.file(".terraform.lock.hcl");
        assert!(
            lock.contains(&format!("provider \"{}/{PROVIDER}\"", registry.host)),
            "{version}: {lock}"
        );
        assert!(
            lock.contains("version     = \"1.2.0\""),
            "{version}: {lock}"
        );
        for platform in ["linux_amd64", "darwin_arm64"] {
            let zh = format!("\"zh:{}\"", release.zip_sha256(platform));
            assert!(
                lock.contains(&zh),
                "{version}, {platform}: {zh} not in\n{lock}"
            );
        }
        assert!(lock.contains("\"h1:"), "{version}: {lock}");
        let installed = run.dir.path().join(format!(
            ".terraform/providers/{}/{PROVIDER}/1.2.0/linux_amd64/terraform-provider-dns_v1.2.0",
            registry.host
        ));
        assert!(installed.exists(), "{version}: {}", installed.display());
        assert!(
            run.stdout().contains("Installed"),
            "{version}: {}",
            run.stdout()
        );
        eprintln!("{version}: installed acme/dns 1.2.0 from {}", registry.host);
    }

    // Without a token, Terraform gets nothing.
    let run = terraform_init(registry, &required_providers(registry, "1.2.0"), None);
    assert!(!run.succeeded());
}

#[tokio::test]
async fn tampered_releases_are_refused_and_leave_nothing() {
    let (registry, tokens) = registry_with_tokens().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    assert_eq!(
        register_key(&registry, &tokens.master, &gpg).await.status,
        201
    );
    let stranger = Gpg::new("Someone Else <else@example.com>");
    let version = "2.0.0";
    let platform = "linux_amd64";

    // A zip changed after SHA256SUMS was written and signed.
    let release = Release::new("dns", version, &[platform]);
    release.sign(&gpg, false);
    release.put_zip(
        platform,
        &[("terraform-provider-dns_v2.0.0", 0o755, b"#!/bin/sh\nevil\n")],
    );
    let reply = publish(&registry, &tokens.uploader, version, release.tar()).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["code"], "checksum_mismatch");

    // SHA256SUMS changed after it was signed (its line made to match the new zip).
    release.write_shasums();
    let reply = publish(&registry, &tokens.uploader, version, release.tar()).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["code"], "invalid_signature");
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{}",
        reply.text()
    );

    // Signed by a key nobody registered.
    let release = Release::new("dns", version, &[platform]);
    release.sign(&stranger, false);
    let reply = publish(&registry, &tokens.uploader, version, release.tar()).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["code"], "invalid_signature");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&stranger.key_id()) && message.contains("not registered"),
        "{message}"
    );

    // The executable misnamed (Terraform would not find it), then not executable.
    for (name, mode, code) in [
        ("terraform-provider-dnsx_v2.0.0", 0o755, "invalid_package"),
        ("terraform-provider-dns_v2.0.0", 0o644, "invalid_package"),
    ] {
        let release = Release::new("dns", version, &[]);
        release.put_zip(platform, &[(name, mode, b"#!/bin/sh\n")]);
        release.sign(&gpg, false);
        let reply = publish(&registry, &tokens.uploader, version, release.tar()).await;
        assert_eq!(reply.status, 400, "{name}: {}", reply.text());
        assert_eq!(reply.json()["code"], code, "{}", reply.text());
    }

    // No signature at all; a file of another version; not a tar.
    let release = Release::new("dns", version, &[platform]);
    release.write_shasums();
    let reply = publish(&registry, &tokens.uploader, version, release.tar()).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .text()
            .contains("the release has no terraform-provider-dns_2.0.0_SHA256SUMS.sig"),
        "{}",
        reply.text()
    );
    let reply = publish(&registry, &tokens.uploader, "2.0.1", {
        release.sign(&gpg, false);
        release.tar()
    })
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("is not a file of this release"),
        "{}",
        reply.text()
    );
    let reply = publish(&registry, &tokens.uploader, version, b"junk".to_vec()).await;
    assert_eq!(reply.status, 400, "{}", reply.text());

    nothing_published(&registry, &tokens, version).await;
    nothing_published(&registry, &tokens, "2.0.1").await;
    // And the good release still publishes afterwards.
    let release = Release::new("dns", version, &[platform]);
    release.sign(&gpg, false);
    let reply = publish(&registry, &tokens.uploader, version, release.tar()).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
}

#[tokio::test]
async fn a_release_is_immutable_and_of_concurrent_publishes_one_wins() {
    let (registry, tokens) = registry_with_tokens().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    assert_eq!(
        register_key(&registry, &tokens.master, &gpg).await.status,
        201
    );
    let first = Release::new("dns", "3.0.0", &["linux_amd64"]);
    first.sign(&gpg, false);
    let second = Release::new("dns", "3.0.0", &["linux_amd64", "linux_arm64"]);
    second.sign(&gpg, false);
    let (a, b) = tokio::join!(
        publish(&registry, &tokens.uploader, "3.0.0", first.tar()),
        publish(&registry, &tokens.uploader, "3.0.0", second.tar()),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text(), b.text());
    let again = publish(&registry, &tokens.uploader, "3.0.0", first.tar()).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["code"], "version_exists");
}

#[tokio::test]
async fn keys_are_the_masters_and_releases_the_uploaders() {
    let (registry, tokens) = registry_with_tokens().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    assert_eq!(
        register_key(&registry, &tokens.uploader, &gpg).await.status,
        403
    );
    let reply = register_key(&registry, &tokens.master, &gpg).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(
        register_key(&registry, &tokens.master, &gpg).await.status,
        409
    );
    let listed = registry
        .get("/v1/provider-keys/acme", Some(&tokens.master))
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["keys"][0]["key_id"], gpg.key_id());
    let bad = registry
        .send(
            "POST",
            "/v1/provider-keys/acme",
            Some(&tokens.master),
            Some(b"not a key".to_vec()),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "invalid_key");

    let release = Release::new("dns", "1.0.0", &["linux_amd64"]);
    release.sign(&gpg, false);
    assert_eq!(
        publish(&registry, &tokens.downloader, "1.0.0", release.tar())
            .await
            .status,
        403
    );
    assert_eq!(
        publish(&registry, &tokens.uploader, "1.0.0", release.tar())
            .await
            .status,
        201
    );
    let path = format!("/v1/providers/{PROVIDER}/versions");
    assert_eq!(registry.get(&path, None).await.status, 401);
    assert_eq!(
        registry.get(&path, Some(&tokens.downloader)).await.status,
        200
    );

    // A removed key signs no new release; the one it signed stays installable.
    let removed = registry
        .send(
            "DELETE",
            &format!("/v1/provider-keys/acme/{}", gpg.key_id()),
            Some(&tokens.master),
            None,
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    let again = registry
        .send(
            "DELETE",
            &format!("/v1/provider-keys/acme/{}", gpg.key_id()),
            Some(&tokens.master),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    let next = Release::new("dns", "1.1.0", &["linux_amd64"]);
    next.sign(&gpg, false);
    let reply = publish(&registry, &tokens.uploader, "1.1.0", next.tar()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "no_signing_key");
    let download = registry
        .get(
            &format!("/v1/providers/{PROVIDER}/1.0.0/download/linux/amd64"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(download.status, 200);
    assert_eq!(
        download.json()["signing_keys"]["gpg_public_keys"][0]["key_id"],
        gpg.key_id()
    );
    let missing = registry
        .get(
            &format!("/v1/providers/{PROVIDER}/1.0.0/download/windows/amd64"),
            Some(&tokens.downloader),
        )
        .await;
    assert_eq!(missing.status, 404);
}

/// `tfreg provider add-key` and `tfreg provider publish`, as a publisher's CI runs them.
#[tokio::test]
async fn the_client_registers_the_key_and_publishes_a_release_directory() {
    let (registry, tokens) = registry_with_tokens().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let home = tempfile::tempdir().unwrap();
    let key_file = home.path().join("acme.asc");
    std::fs::write(&key_file, gpg.public_key()).unwrap();
    let token_file = |token: &str, name: &str| {
        let path = home.path().join(name);
        std::fs::write(&path, token).unwrap();
        path.display().to_string()
    };
    let (master, uploader) = (
        token_file(&tokens.master, "master"),
        token_file(&tokens.uploader, "up"),
    );
    let url = registry.url("");
    let ca = registry.ca_pem.display().to_string();
    let tfreg = |args: &[&str]| {
        std::process::Command::new(common::tfreg_binary())
            .args(args)
            .args(["--registry", &url, "--ca-file", &ca])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .output()
            .expect("running tfreg")
    };
    let out = tfreg(&[
        "provider",
        "add-key",
        "acme",
        key_file.to_str().unwrap(),
        "--token-file",
        &master,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&gpg.key_id()));

    let release = Release::new("dns", "4.0.0", &["linux_amd64"]);
    release.sign(&gpg, false);
    // Other files in dist/ are left out.
    std::fs::write(release.path("artifacts.json"), "[]").unwrap();
    let dir = release.dir.path().to_str().unwrap().to_owned();
    let out = tfreg(&[
        "provider",
        "publish",
        &dir,
        "--provider",
        PROVIDER,
        "--version",
        "4.0.0",
        "--protocols",
        "5.0,6.0",
        "--token-file",
        &uploader,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains(&format!("source  = \"{}/{PROVIDER}\"", registry.host)),
        "{stdout}"
    );
    let versions = registry
        .get(
            &format!("/v1/providers/{PROVIDER}/versions"),
            Some(&tokens.downloader),
        )
        .await
        .json();
    assert_eq!(
        versions["versions"][0]["protocols"],
        serde_json::json!(["5.0", "6.0"])
    );
    let again = tfreg(&[
        "provider",
        "publish",
        &dir,
        "--provider",
        PROVIDER,
        "--version",
        "4.0.0",
        "--token-file",
        &uploader,
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
