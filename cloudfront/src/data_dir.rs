//! The data directory of `tfreg serve`: what is made on first start and where it lives.
//!
//! ```text
//! DIR/master-token     the master token's value (0600), written once on first start
//! DIR/signing-key      the key that signs archive URLs (0600)
//! DIR/tls/ca.pem       the local CA certificate to trust (SSL_CERT_FILE=…)
//! DIR/tls/ca-key.pem   its key (0600)
//! DIR/tokens.redb      token records (hashes only)
//! DIR/modules/…        published versions
//! DIR/staging/…        uploads in progress
//! ```

use anyhow::{Context, Result};
use rand::RngCore;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes a file that only its owner can read, failing if it already exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// The archive-URL signing key, made on first start.
pub fn signing_key(data_dir: &Path) -> Result<Vec<u8>> {
    let path = data_dir.join("signing-key");
    if !path.exists() {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_private_file(&path, hex::encode(key).as_bytes())?;
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display()))
}
