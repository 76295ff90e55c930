//! The data directory of `tfreg serve`: what is made on first start and where it lives.
//!
//! ```text
//! DIR/master-token     the master token's value (0600), written once on first start
//! DIR/url-signing-key.pem  the key that signs archive URLs, ECDSA P-256 PKCS#8 (0600); a
//!                      `signing-key` left by an older tfreg (the edge's HMAC key) is not read
//! DIR/tls/ca.pem       the local CA certificate to trust (SSL_CERT_FILE=…)
//! DIR/tls/ca-key.pem   its key (0600)
//! DIR/tokens.redb      token records (hashes only)
//! DIR/modules/…        published versions
//! DIR/staging/…        writes in progress (cleared on start)
//! ```
//!
//! Every file here is written whole under a temporary name and renamed into place, so a
//! first start killed half-way leaves each file whole or absent, never empty or cut short
//! (an empty signing key would be a key nobody can read back; a CA key without its
//! certificate used to stop every later start).

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Temporary names of files being written (see [`write_private_file`]).
const PARTIAL_PREFIX: &str = ".partial-";

/// Writes a file that only its owner can read, whole or not at all (see [`write_whole`]).
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    write_whole(path, contents, 0o600)
}

/// Writes `path` whole or not at all: into a temporary file beside it (with `mode`), synced,
/// then renamed over it.
pub fn write_whole(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// Deletes the temporary files of writes a crash cut short in `dir`.
pub fn remove_partial_files(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(PARTIAL_PREFIX)
        {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The ID `tfreg serve` gives its URL signing key: the `Key-Pair-Id` of its archive URLs, as
/// CloudFront's public key ID is on AWS.
pub const URL_SIGNING_KEY_PAIR_ID: &str = "KTFREGSERVE";

/// The archive URL signing key (ECDSA P-256, PKCS#8 PEM), made on first start. An empty file
/// (a first start killed between creating and writing it) is made again.
pub fn url_signing_key(data_dir: &Path) -> Result<tfreg_origin::signed_url::UrlSigner> {
    use tfreg_origin::signed_url::UrlSigner;
    let path = data_dir.join("url-signing-key.pem");
    let empty = std::fs::metadata(&path).is_ok_and(|meta| meta.len() == 0);
    if empty || !path.exists() {
        let key = UrlSigner::generate(URL_SIGNING_KEY_PAIR_ID);
        write_private_file(&path, key.private_key_pem().as_bytes())?;
    }
    let pem =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    UrlSigner::from_pkcs8_pem(&pem, URL_SIGNING_KEY_PAIR_ID).map_err(|error| {
        anyhow::anyhow!(
            "{}: {error}: delete it to make a new one (archive URLs already handed out stop working)",
            path.display()
        )
    })
}

/// The master token saved by a start that was killed before it recorded it, if any.
pub fn saved_master_token(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_url_signing_key_from_a_cut_first_start_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("url-signing-key.pem");
        std::fs::write(&path, b"").unwrap();
        let key = url_signing_key(dir.path()).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
        assert_eq!(
            url_signing_key(dir.path()).unwrap().public_key_pem(),
            key.public_key_pem(),
            "made once, then kept"
        );
    }

    #[test]
    fn a_url_signing_key_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("url-signing-key.pem"), b"abcd\n").unwrap();
        let error = url_signing_key(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("not a PKCS#8 PEM ECDSA P-256 private key"),
            "{error}"
        );
    }

    #[test]
    fn private_files_are_written_whole_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private_file(&path, b"one").unwrap();
        write_private_file(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(".partial-cut"), b"x").unwrap();
        remove_partial_files(dir.path()).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"]);
    }
}
