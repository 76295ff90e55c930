use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// Archive URLs live beneath this path. Terraform never sends its token there, so every URL
/// carries its own signature: HMAC-SHA256 over the path and the expiry.
pub const ARCHIVE_PATH_PREFIX: &str = "/archives/";

type HmacSha256 = Hmac<Sha256>;

/// Signs and verifies archive URLs with a key shared by the origin (which signs) and the edge
/// (which verifies).
#[derive(Clone)]
pub struct ArchiveSigner {
    key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Expired,
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => {
                "archive URL is not signed: ask the registry's download endpoint for a fresh URL"
            }
            SignatureError::Malformed => "archive URL signature is malformed",
            SignatureError::Expired => {
                "archive URL has expired: ask the registry's download endpoint for a fresh URL"
            }
            SignatureError::Mismatch => "archive URL signature does not match this archive",
        })
    }
}

impl std::error::Error for SignatureError {}

impl fmt::Debug for ArchiveSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ArchiveSigner { key: <redacted> }")
    }
}

impl ArchiveSigner {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        ArchiveSigner { key: key.into() }
    }

    fn mac(&self, path: &str, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The query string (`expires=…&signature=…`) that authorises `path` until `expires`
    /// (seconds since the Unix epoch).
    pub fn sign(&self, path: &str, expires: u64) -> String {
        let signature = URL_SAFE_NO_PAD.encode(self.mac(path, expires).finalize().into_bytes());
        format!("expires={expires}&signature={signature}")
    }

    /// Checks the `expires` and `signature` parameters of `query` against `path`. Other
    /// parameters (go-getter's `checksum` and `archive`, if a client sends them) are ignored:
    /// they are not signed and grant nothing.
    pub fn verify(&self, path: &str, query: &str, now: u64) -> Result<(), SignatureError> {
        let mut expires = None;
        let mut signature = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = Some(v),
                Some(("signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(SignatureError::Missing);
        };
        let expires: u64 = expires.parse().map_err(|_| SignatureError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SignatureError::Malformed)?;
        // Check the MAC before the clock, so an attacker learns nothing from the difference.
        self.mac(path, expires)
            .verify_slice(&signature)
            .map_err(|_| SignatureError::Mismatch)?;
        if now >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/archives/acme/vpc/aws/1.2.0.tar.gz";

    #[test]
    fn a_signed_path_verifies_until_it_expires() {
        let signer = ArchiveSigner::new(b"k".to_vec());
        let query = signer.sign(PATH, 1_000);
        assert_eq!(signer.verify(PATH, &query, 999), Ok(()));
        assert_eq!(
            signer.verify(PATH, &query, 1_000),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn unsigned_parameters_are_ignored() {
        let signer = ArchiveSigner::new(b"k".to_vec());
        let query = format!(
            "{}&checksum=sha256:00&archive=tar.gz",
            signer.sign(PATH, 1_000)
        );
        assert_eq!(signer.verify(PATH, &query, 1), Ok(()));
    }

    #[test]
    fn tampering_is_detected() {
        let signer = ArchiveSigner::new(b"k".to_vec());
        let query = signer.sign(PATH, 1_000);
        let other_path = "/archives/acme/vpc/aws/1.3.0.tar.gz";
        assert_eq!(
            signer.verify(other_path, &query, 1),
            Err(SignatureError::Mismatch)
        );
        let later = query.replace("expires=1000", "expires=9999");
        assert_eq!(
            signer.verify(PATH, &later, 1),
            Err(SignatureError::Mismatch)
        );
        let other_key = ArchiveSigner::new(b"other".to_vec());
        assert_eq!(
            other_key.verify(PATH, &query, 1),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            signer.verify(PATH, "expires=1000", 1),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            signer.verify(PATH, "expires=x&signature=abc", 1),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            signer.verify(PATH, "expires=1000&signature=!!", 1),
            Err(SignatureError::Malformed)
        );
    }
}
