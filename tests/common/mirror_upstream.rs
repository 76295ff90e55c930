//! A stand-in public provider registry and release host on loopback, for the provider
//! network mirror's tests (`tfreg serve` in tests/provider_mirror.rs, the origin Lambda in
//! tests/origin_lambda/mirror.rs): releases published as registry.terraform.io publishes them,
//! signed with a test GPG key.

use super::providers::{Gpg, Release};
use serde_json::json;
use tfreg_testkit::upstream::files::FileServer;

/// The provider hostname Terraform names (no port: its mirror client cannot send one), mapped
/// by `--provider-mirror-upstream` to the stand-in's loopback URL.
pub const HOST: &str = "registry.example.test";
pub const PROVIDER: &str = "acme/dns";

/// The stand-in provider registry and its release host.
pub struct Upstream {
    pub registry: FileServer,
    pub releases: FileServer,
    /// `version -> platforms`, for the version list.
    listed: std::sync::Mutex<Vec<(String, Vec<String>)>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let registry = FileServer::start().await;
        registry.put(
            "/.well-known/terraform.json",
            json!({"providers.v1": "/v1/providers/"}).to_string(),
        );
        Upstream {
            registry,
            releases: FileServer::start().await,
            listed: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Serves `release` as the public registry does: the version list, a download answer per
    /// platform naming `answer_key`'s public key, and the files on the release host.
    pub fn publish(&self, release: &Release, platforms: &[&str], answer_key: &Gpg) {
        let version = &release.version;
        let file_url = |name: &str| format!("{}/{PROVIDER}/{version}/{name}", self.releases.url());
        for name in std::fs::read_dir(release.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
        {
            self.releases.put(
                &format!("/{PROVIDER}/{version}/{name}"),
                std::fs::read(release.path(&name)).unwrap(),
            );
        }
        for platform in platforms {
            let (os, arch) = platform.split_once('_').unwrap();
            self.registry.put(
                &format!("/v1/providers/{PROVIDER}/{version}/download/{os}/{arch}"),
                json!({
                    "protocols": ["5.0"], "os": os, "arch": arch,
                    "filename": release.zip_name(platform),
                    "download_url": file_url(&release.zip_name(platform)),
                    "shasums_url": file_url(&release.shasums_name()),
                    "shasums_signature_url": file_url(&release.signature_name()),
                    "shasum": listed_sha256(release, platform),
                    "signing_keys": {"gpg_public_keys": [{
                        "key_id": answer_key.key_id(), "ascii_armor": answer_key.public_key(),
                    }]},
                })
                .to_string(),
            );
        }
        let mut listed = self.listed.lock().unwrap();
        listed.push((
            version.clone(),
            platforms.iter().map(|p| (*p).to_owned()).collect(),
        ));
        let versions: Vec<_> = listed
            .iter()
            .map(|(version, platforms)| {
                let platforms: Vec<_> = platforms
                    .iter()
                    .map(|p| {
                        let (os, arch) = p.split_once('_').unwrap();
                        json!({"os": os, "arch": arch})
                    })
                    .collect();
                json!({"version": version, "protocols": ["5.0"], "platforms": platforms})
            })
            .collect();
        self.registry.put(
            &format!("/v1/providers/{PROVIDER}/versions"),
            json!({ "versions": versions }).to_string(),
        );
    }
}

/// The zip's line in the release's `SHA256SUMS` (what a registry answers as `shasum`, even
/// when the file on the release host was swapped since).
fn listed_sha256(release: &Release, platform: &str) -> String {
    let sums = std::fs::read_to_string(release.path(&release.shasums_name())).unwrap();
    let name = release.zip_name(platform);
    sums.lines()
        .find_map(|line| line.strip_suffix(&format!("  {name}")))
        .map(str::to_owned)
        .unwrap_or_else(|| release.zip_sha256(platform))
}

/// A signed release of acme/dns `version` for `platforms`.
pub fn signed_release(version: &str, platforms: &[&str], gpg: &Gpg) -> Release {
    let release = Release::new("dns", version, platforms);
    release.sign(gpg, false);
    release
}
