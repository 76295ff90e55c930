//! Provider releases for tests, built the way a publisher builds them: a GPG key made with
//! Debian's `gpg` in a throw-away home, a small executable zipped per platform, `SHA256SUMS`
//! written like `sha256sum` writes it, and its detached signature made by `gpg` itself.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A GPG home with one RSA signing key (RSA: what every Terraform's OpenPGP reads).
pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    pub fn new(identity: &str) -> Self {
        let home = tempfile::tempdir().expect("gpg home");
        let gpg = Gpg { home };
        gpg.run(&["--quick-gen-key", identity, "rsa2048", "sign", "never"]);
        gpg
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("running gpg (Debian's gnupg; tests/setup.sh installs it)");
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// The public key, ASCII-armored.
    pub fn public_key(&self) -> String {
        String::from_utf8(self.run(&["--armor", "--export"])).unwrap()
    }

    /// The key's 64-bit ID, uppercase hex.
    pub fn key_id(&self) -> String {
        let listing = String::from_utf8(self.run(&["--with-colons", "--list-keys"])).unwrap();
        listing
            .lines()
            .find(|l| l.starts_with("pub:"))
            .and_then(|l| l.split(':').nth(4))
            .expect("a key")
            .to_owned()
    }

    /// A detached signature of `file`: binary, or ASCII-armored.
    pub fn sign(&self, file: &Path, armored: bool) -> Vec<u8> {
        let mut args = vec!["--detach-sign", "--output", "-"];
        if armored {
            args.push("--armor");
        }
        let file = file.to_str().unwrap();
        args.push(file);
        self.run(&args)
    }
}

/// A zip of `(name, mode, contents)` entries.
pub fn zip_of(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, mode, contents) in entries {
        let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        writer.start_file(*name, options).unwrap();
        writer.write_all(contents).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A release being put together in a directory, as a publisher's `dist/`.
pub struct Release {
    pub dir: tempfile::TempDir,
    pub provider_type: String,
    pub version: String,
}

impl Release {
    /// A release of `provider_type` `version` with one zip per platform, each holding an
    /// executable `terraform-provider-{type}_v{version}` (a shell script: `terraform init`
    /// never runs it).
    pub fn new(provider_type: &str, version: &str, platforms: &[&str]) -> Self {
        let release = Release {
            dir: tempfile::tempdir().unwrap(),
            provider_type: provider_type.to_owned(),
            version: version.to_owned(),
        };
        for platform in platforms {
            let exe = if platform.starts_with("windows") {
                ".exe"
            } else {
                ""
            };
            let name = format!("terraform-provider-{provider_type}_v{version}{exe}");
            let script = format!("#!/bin/sh\necho {provider_type} {version} {platform}\n");
            release.put_zip(platform, &[(&name, 0o755, script.as_bytes())]);
        }
        release
    }

    pub fn prefix(&self) -> String {
        format!("terraform-provider-{}_{}", self.provider_type, self.version)
    }

    pub fn zip_name(&self, platform: &str) -> String {
        format!("{}_{platform}.zip", self.prefix())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes (or replaces) the zip of `platform`.
    pub fn put_zip(&self, platform: &str, entries: &[(&str, u32, &[u8])]) {
        std::fs::write(self.path(&self.zip_name(platform)), zip_of(entries)).unwrap();
    }

    /// Writes `SHA256SUMS` over every zip, as `sha256sum *.zip` does.
    pub fn write_shasums(&self) -> String {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".zip"))
            .collect();
        names.sort();
        let document: String = names
            .iter()
            .map(|name| {
                let bytes = std::fs::read(self.path(name)).unwrap();
                format!("{}  {name}\n", hex::encode(Sha256::digest(&bytes)))
            })
            .collect();
        std::fs::write(self.path(&self.shasums_name()), &document).unwrap();
        document
    }

    pub fn shasums_name(&self) -> String {
        format!("{}_SHA256SUMS", self.prefix())
    }

    pub fn signature_name(&self) -> String {
        format!("{}_SHA256SUMS.sig", self.prefix())
    }

    /// Writes `SHA256SUMS` and signs it with `gpg`.
    pub fn sign(&self, gpg: &Gpg, armored: bool) {
        self.write_shasums();
        let signature = gpg.sign(&self.path(&self.shasums_name()), armored);
        std::fs::write(self.path(&self.signature_name()), signature).unwrap();
    }

    /// The tar of every file in the directory: the body of the publish request.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for name in names {
            builder
                .append_path_with_name(self.path(&name), &name)
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    /// The SHA-256 of a platform's zip, lowercase hex.
    pub fn zip_sha256(&self, platform: &str) -> String {
        hex::encode(Sha256::digest(
            std::fs::read(self.path(&self.zip_name(platform))).unwrap(),
        ))
    }
}
