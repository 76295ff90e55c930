//! Exchanged tokens kept between Terraform's calls: one file per host and identity under the
//! user's cache directory (`$XDG_CACHE_HOME/tfreg/` or `~/.cache/tfreg/`), the directory
//! 0700 and the files 0600, used until shortly before the token expires. A `terraform init`
//! asks the helper once per registry request; without the cache each would be an exchange.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A cached token is not handed out in its last minute: Terraform may hold it that long.
pub const EXPIRY_MARGIN_SECS: u64 = 60;

/// The environment variables that choose who the helper proves to be. A token is cached for
/// one combination of them, so that switching `AWS_PROFILE` (or keys, or CI job) makes a new
/// exchange instead of reusing another identity's token.
pub const IDENTITY_VARIABLES: &[&str] = &[
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "TFREG_OIDC_TOKEN_ENV",
    "TFREG_OIDC_TOKEN",
    "TFREG_OIDC_AUDIENCE",
    "TFREG_SERVER_ID",
    "TFREG_STS_ENDPOINT",
    "CI_JOB_ID",
    "GITHUB_RUN_ID",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    pub token: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

impl CachedToken {
    pub fn usable_at(&self, now: u64) -> bool {
        now + EXPIRY_MARGIN_SECS < self.expires_at
    }
}

/// The cache directory of one user.
pub struct TokenCache {
    dir: PathBuf,
}

impl TokenCache {
    /// `$XDG_CACHE_HOME/tfreg` (when set to an absolute path) or `$HOME/.cache/tfreg`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let base = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
            .or_else(|| {
                var("HOME")
                    .filter(|home| !home.is_empty())
                    .map(|home| Path::new(&home).join(".cache"))
            })?;
        Some(TokenCache {
            dir: base.join("tfreg"),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `host`'s token for the identity `fingerprint` ([`identity_fingerprint`]).
    fn path(&self, host: &str, fingerprint: &str) -> PathBuf {
        self.dir
            .join(format!("{}{fingerprint}.json", file_prefix(host)))
    }

    /// The cached token for `host` and this identity, if there is one usable at `now`. A file
    /// that cannot be read or parsed counts as none (the next exchange rewrites it).
    pub fn get(&self, host: &str, fingerprint: &str, now: u64) -> Option<CachedToken> {
        let text = std::fs::read(self.path(host, fingerprint)).ok()?;
        let cached: CachedToken = serde_json::from_slice(&text).ok()?;
        cached.usable_at(now).then_some(cached)
    }

    /// Writes `token` for `host`: a private temporary file renamed into place, so that a
    /// concurrent reader sees the old token or the new one, never half of one.
    pub fn put(&self, host: &str, fingerprint: &str, token: &CachedToken) -> Result<(), String> {
        let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", self.dir.display());
        create_private_dir(&self.dir).map_err(|e| fail("creating the token cache", e))?;
        let final_path = self.path(host, fingerprint);
        let temporary = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let body = serde_json::to_vec(token).expect("a cached token serialises");
        let written = open_private_file(&temporary)
            .and_then(|mut file| file.write_all(&body).and_then(|()| file.sync_all()))
            .and_then(|()| std::fs::rename(&temporary, &final_path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(fail("writing a token to the cache in", e));
        }
        Ok(())
    }

    /// Deletes every cached token of `host` (for all identities).
    pub fn forget(&self, host: &str) -> Result<(), String> {
        let prefix = file_prefix(host);
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("reading {}: {e}", self.dir.display())),
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                std::fs::remove_file(entry.path())
                    .map_err(|e| format!("deleting {}: {e}", entry.path().display()))?;
            }
        }
        Ok(())
    }
}

/// `token.<host>@`, with `:` (not allowed in file names everywhere) as `+`. Neither `+` nor
/// `@` is allowed in a checked host name, so no host's prefix is the start of another's.
fn file_prefix(host: &str) -> String {
    format!("token.{}@", host.replace(':', "+"))
}

/// A short digest of the [`IDENTITY_VARIABLES`]' values (never the values themselves: some
/// are secrets).
pub fn identity_fingerprint(var: impl Fn(&str) -> Option<String>) -> String {
    let mut digest = Sha256::new();
    for name in IDENTITY_VARIABLES {
        digest.update(name.as_bytes());
        match var(name) {
            Some(value) => {
                digest.update([1]);
                digest.update((value.len() as u64).to_be_bytes());
                digest.update(value.as_bytes());
            }
            None => digest.update([0]),
        }
    }
    hex::encode(&digest.finalize()[..8])
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // An existing directory keeps its mode otherwise.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_in(dir: &Path) -> TokenCache {
        let base = dir.to_string_lossy().into_owned();
        TokenCache::from_env(|name| (name == "XDG_CACHE_HOME").then(|| base.clone())).unwrap()
    }

    #[test]
    fn the_cache_dir_is_xdg_or_home_dot_cache() {
        let cache = TokenCache::from_env(|name| match name {
            "XDG_CACHE_HOME" => Some("relative/ignored".into()),
            "HOME" => Some("/home/me".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cache.dir(), Path::new("/home/me/.cache/tfreg"));
        assert!(TokenCache::from_env(|_| None).is_none());
    }

    #[test]
    fn a_token_is_used_until_a_minute_before_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let token = CachedToken {
            token: "tfr_x".into(),
            expires_at: 10_000,
        };
        cache.put("127.0.0.1:8443", "id1", &token).unwrap();
        assert_eq!(cache.get("127.0.0.1:8443", "id1", 9_939), Some(token));
        assert_eq!(cache.get("127.0.0.1:8443", "id1", 9_940), None);
        assert_eq!(
            cache.get("127.0.0.1:8443", "id2", 0),
            None,
            "another identity"
        );
        assert_eq!(cache.get("127.0.0.1:8444", "id1", 0), None, "another host");
    }

    #[cfg(unix)]
    #[test]
    fn the_cache_is_private_to_its_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let token = CachedToken {
            token: "tfr_x".into(),
            expires_at: u64::MAX,
        };
        cache.put("registry.example.com", "id", &token).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cache.dir()), 0o700);
        assert_eq!(mode(&cache.path("registry.example.com", "id")), 0o600);
    }

    #[test]
    fn forget_deletes_every_identity_of_one_host_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let token = CachedToken {
            token: "tfr_x".into(),
            expires_at: u64::MAX,
        };
        cache.put("a.example.com", "id1", &token).unwrap();
        cache.put("a.example.com", "id2", &token).unwrap();
        cache.put("a.example.com.evil", "id1", &token).unwrap();
        cache.forget("a.example.com").unwrap();
        assert!(cache.get("a.example.com", "id1", 0).is_none());
        assert!(cache.get("a.example.com", "id2", 0).is_none());
        assert!(cache.get("a.example.com.evil", "id1", 0).is_some());
        // Nothing cached at all: nothing to do.
        cache_in(&dir.path().join("none")).forget("x").unwrap();
    }

    #[test]
    fn the_fingerprint_changes_with_the_identity_and_hides_it() {
        let with = |key: &'static str| {
            identity_fingerprint(move |name| (name == "AWS_ACCESS_KEY_ID").then(|| key.into()))
        };
        assert_ne!(with("AKIA1"), with("AKIA2"));
        assert_eq!(with("AKIA1"), with("AKIA1"));
        assert!(!with("AKIA1").contains("AKIA"));
        assert_ne!(identity_fingerprint(|_| None), with(""));
    }
}
