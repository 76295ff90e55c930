//! CloudFront signed URLs with a canned policy: what the origin puts in `X-Terraform-Get` so
//! that CloudFront itself, through a trusted key group on the `/archives/*` behaviour, admits
//! the archive request, with no function on that behaviour. `tfreg serve` checks the same
//! signature the same way ([`UrlVerifier`]).
//!
//! The rule, from the CloudFront Developer Guide ("Create a signed URL using a canned
//! policy"):
//! - the policy is, byte for byte and without whitespace,
//!   `{"Statement":[{"Resource":"<URL>","Condition":{"DateLessThan":{"AWS:EpochTime":<expires>}}}]}`
//!   where `<URL>` is the URL the viewer requests (scheme, host, path, and its own query
//!   parameters if any) without `Expires`, `Signature` and `Key-Pair-Id`;
//! - the signature is over the policy's SHA-1 digest (CloudFront's default for RSA and ECDSA
//!   keys alike; ECDSA signatures are DER), in base64 with `+` `=` `/` replaced by `-` `_` `~`;
//! - the URL carries `Expires` (the same epoch seconds), `Signature` and `Key-Pair-Id` (the
//!   CloudFront public key's ID).
//!
//! AWS's own Rust signer (smithy-lang/smithy-rs, aws-sdk-cloudfront-url-signer) signs ECDSA
//! P-256 keys this way; its test vector is one of this module's tests.
//!
//! Parameter order: go-getter re-encodes the query of an archive URL before it requests it
//! (`url.Values.Encode()`, keys sorted), after taking out `checksum` and `archive`. So the
//! parameters are written in that sorted order from the start, `Expires`, `Key-Pair-Id`,
//! `Signature`, and CloudFront sees them as they were written. Their values are made of
//! characters that Go's query escaping leaves as they are (`A-Z a-z 0-9 - _ . ~`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha1::{Digest, Sha1};
use std::fmt;

/// The latest `Expires` CloudFront takes: the canned policy's epoch time is a 32-bit number.
pub const MAX_EXPIRES: u64 = 2_147_483_647;

/// The query parameters of a signed URL: the only ones that are not part of the resource.
const EXPIRES: &str = "Expires";
const KEY_PAIR_ID: &str = "Key-Pair-Id";
const SIGNATURE: &str = "Signature";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedUrlError {
    /// The URL has none of the signing parameters.
    Missing,
    /// A signing parameter is there but is not what a signer writes.
    Malformed,
    /// The URL is signed by a key this distribution does not trust.
    UnknownKey,
    Expired,
    /// The signature is not over this URL (another path or host, an added parameter, another
    /// expiry).
    Mismatch,
    /// The private key could not be read (no key material in the message).
    BadKey(String),
}

impl fmt::Display for SignedUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedUrlError::Missing => f.write_str(
                "archive URL is not signed: ask the registry's download endpoint for a fresh URL",
            ),
            SignedUrlError::Malformed => f.write_str("archive URL signature is malformed"),
            SignedUrlError::UnknownKey => {
                f.write_str("archive URL is signed with a key this registry does not trust")
            }
            SignedUrlError::Expired => f.write_str(
                "archive URL has expired: ask the registry's download endpoint for a fresh URL",
            ),
            SignedUrlError::Mismatch => {
                f.write_str("archive URL signature does not match this archive")
            }
            SignedUrlError::BadKey(why) => write!(f, "the URL signing key cannot be read: {why}"),
        }
    }
}

impl std::error::Error for SignedUrlError {}

/// `https://{host}` for a `Host` header that names only a host (name or address) and maybe a
/// port; `None` for anything else. The result goes into a signed resource, so a crafted
/// `Host` must not be able to carry a path, a query or a quote into it.
pub fn https_origin(host: &str) -> Option<String> {
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    plain.then(|| format!("https://{host}"))
}

/// The canned policy CloudFront rebuilds from a signed request and checks the signature over.
pub fn canned_policy(resource: &str, expires: u64) -> String {
    format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    )
}

fn policy_digest(resource: &str, expires: u64) -> [u8; 20] {
    Sha1::digest(canned_policy(resource, expires).as_bytes()).into()
}

/// CloudFront's URL-safe base64: the standard alphabet, then `+`→`-`, `=`→`_`, `/`→`~`.
fn encode_signature(der: &[u8]) -> String {
    STANDARD
        .encode(der)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

fn decode_signature(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            c => c,
        })
        .collect();
    STANDARD.decode(standard).ok()
}

/// Signs archive URLs with the private key of a CloudFront key pair (ECDSA P-256).
#[derive(Clone)]
pub struct UrlSigner {
    key: SigningKey,
    key_pair_id: String,
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UrlSigner {{ key_pair_id: {:?}, key: <redacted> }}",
            self.key_pair_id
        )
    }
}

impl UrlSigner {
    /// A signer from a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`, as Terraform's
    /// `tls_private_key.private_key_pem_pkcs8` writes it) and the ID CloudFront gave its
    /// public key.
    pub fn from_pkcs8_pem(pem: &str, key_pair_id: &str) -> Result<Self, SignedUrlError> {
        let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|_| {
            SignedUrlError::BadKey("not a PKCS#8 PEM ECDSA P-256 private key".into())
        })?;
        if key_pair_id.is_empty() || !key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SignedUrlError::BadKey(format!(
                "the key pair ID {key_pair_id:?} is not a CloudFront public key ID"
            )));
        }
        Ok(UrlSigner {
            key,
            key_pair_id: key_pair_id.to_owned(),
        })
    }

    /// A new random key (`tfreg serve` makes one on first start).
    pub fn generate(key_pair_id: &str) -> Self {
        UrlSigner {
            key: SigningKey::random(&mut rand::rngs::OsRng),
            key_pair_id: key_pair_id.to_owned(),
        }
    }

    /// The private key as PKCS#8 PEM, to keep (`tfreg serve`'s data directory).
    pub fn private_key_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a P-256 key encodes as PKCS#8")
            .to_string()
    }

    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// The public half, as CloudFront's `PublicKey` takes it (PEM SubjectPublicKeyInfo).
    pub fn public_key_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes as SPKI")
    }

    pub fn verifier(&self) -> UrlVerifier {
        UrlVerifier {
            key: *self.key.verifying_key(),
            key_pair_id: self.key_pair_id.clone(),
        }
    }

    /// The signing parameters (`Expires=…&Key-Pair-Id=…&Signature=…`) that admit a request
    /// for `resource` (the full URL with no query) until `expires`.
    pub fn sign(&self, resource: &str, expires: u64) -> String {
        let expires = expires.min(MAX_EXPIRES);
        let signature: DerSignature = self
            .key
            .sign_prehash(&policy_digest(resource, expires))
            .expect("a 20-byte digest is long enough for P-256");
        format!(
            "{EXPIRES}={expires}&{KEY_PAIR_ID}={}&{SIGNATURE}={}",
            self.key_pair_id,
            encode_signature(signature.as_bytes())
        )
    }
}

/// Checks signed URLs as CloudFront does for a behaviour whose trusted key group holds one
/// public key.
#[derive(Clone, Debug)]
pub struct UrlVerifier {
    key: VerifyingKey,
    key_pair_id: String,
}

impl UrlVerifier {
    pub fn from_public_key(key: VerifyingKey, key_pair_id: &str) -> Self {
        UrlVerifier {
            key,
            key_pair_id: key_pair_id.to_owned(),
        }
    }

    /// Checks a request for `base` (`https://host/path`, as the viewer asked for it) with
    /// the raw query `query`. As CloudFront does, every parameter other than the three signing
    /// ones stays part of the resource, in its place: a URL with a parameter added (or one
    /// that go-getter did not take out, such as `checksum`) is not the URL that was signed.
    pub fn verify(&self, base: &str, query: &str, now: u64) -> Result<(), SignedUrlError> {
        let (mut expires, mut key_pair_id, mut signature) = (None, None, None);
        let mut own = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                EXPIRES => &mut expires,
                KEY_PAIR_ID => &mut key_pair_id,
                SIGNATURE => &mut signature,
                _ => {
                    own.push(pair);
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                return Err(SignedUrlError::Malformed);
            }
        }
        let (expires, key_pair_id, signature) = match (expires, key_pair_id, signature) {
            (None, None, None) => return Err(SignedUrlError::Missing),
            (Some(e), Some(k), Some(s)) => (e, k, s),
            _ => return Err(SignedUrlError::Malformed),
        };
        let expires: u64 = expires
            .parse()
            .ok()
            .filter(|e| *e <= MAX_EXPIRES)
            .ok_or(SignedUrlError::Malformed)?;
        if key_pair_id != self.key_pair_id {
            return Err(SignedUrlError::UnknownKey);
        }
        let signature = decode_signature(signature)
            .and_then(|der| DerSignature::from_bytes(&der).ok())
            .ok_or(SignedUrlError::Malformed)?;
        let resource = if own.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", own.join("&"))
        };
        // The signature before the clock, so an expired URL tells nothing about a forged one.
        self.key
            .verify_prehash(&policy_digest(&resource, expires), &signature)
            .map_err(|_| SignedUrlError::Mismatch)?;
        if now >= expires {
            return Err(SignedUrlError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "signed_url_tests.rs"]
mod tests;
