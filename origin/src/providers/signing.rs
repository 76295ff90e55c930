//! GPG keys registered for a namespace, and the check of a release's signature.
//!
//! Terraform verifies `SHA256SUMS` against the download answer's `signing_keys` with Go's
//! `openpgp.CheckDetachedSignature`: a binary (not armored) detached signature over the file's
//! bytes, made by the primary key or a signing subkey of one of the keys listed. The registry
//! runs the same check at publish with rPGP (the `pgp` crate, pure Rust), so a release it
//! accepts is one Terraform accepts, and stores the signature in binary form whatever form it
//! came in.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::SignatureType;
use pgp::ser::Serialize;
use pgp::types::KeyDetails;

/// The largest ASCII-armored public key taken (a 4096-bit RSA key with a few subkeys and
/// signatures is under 10 KB).
pub const MAX_ARMORED_KEY_BYTES: usize = 32 * 1024;

/// The largest signature file taken.
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;

/// A public key as registered: what the download answer lists in `gpg_public_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// The primary key's 64-bit key ID, uppercase hex (`51852D87348FFC4C`), as the protocol
    /// names keys.
    pub key_id: String,
    /// The primary key's fingerprint, uppercase hex.
    pub fingerprint: String,
    /// The key ASCII-armored, as it was registered.
    pub ascii_armor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the key is not an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----): {0}")]
    InvalidKey(String),
    #[error("the key is larger than {MAX_ARMORED_KEY_BYTES} bytes")]
    KeyTooLarge,
    #[error("the key's self-signatures do not verify: {0}")]
    InvalidBindings(String),
    #[error("the key (or a subkey) is {0:?}, which Terraform cannot read: Terraform 1.0 fails every install with \"error decoding signing key: openpgp: unsupported feature: public key type: 22\" for an Ed25519 key (gpg's default); register an RSA key (gpg --quick-gen-key 'Name <email>' rsa4096 sign never)")]
    UnsupportedAlgorithm(PublicKeyAlgorithm),
    #[error("the signature file is not an OpenPGP detached signature: {0}")]
    InvalidSignature(String),
    #[error("the signature file is larger than {MAX_SIGNATURE_BYTES} bytes")]
    SignatureTooLarge,
    #[error("the signature is a {0:?} signature; sign SHA256SUMS as binary data (gpg --detach-sign), as Terraform checks it")]
    NotBinary(String),
    #[error("SHA256SUMS is signed by key {issuer}, which is not registered for namespace {namespace} (registered: {registered})")]
    UnknownIssuer {
        issuer: String,
        namespace: String,
        registered: String,
    },
    #[error("the signature of SHA256SUMS does not verify with key {key_id}: the file or the signature was changed after signing")]
    BadSignature { key_id: String },
}

fn key_id_hex(id: impl AsRef<[u8]>) -> String {
    hex::encode_upper(id.as_ref())
}

/// The public key algorithms Terraform's OpenPGP reader (Go's `x/crypto/openpgp`) decodes
/// whatever the curve: RSA, DSA and ElGamal. It fails on the whole key ring when any key in it
/// is another algorithm (measured with Terraform 1.0.3 and an Ed25519 key); ECDSA and ECDH
/// depend on the curve and are refused too, for want of a test.
fn terraform_reads(algorithm: PublicKeyAlgorithm) -> bool {
    matches!(
        algorithm,
        PublicKeyAlgorithm::RSA
            | PublicKeyAlgorithm::RSAEncrypt
            | PublicKeyAlgorithm::RSASign
            | PublicKeyAlgorithm::DSA
            | PublicKeyAlgorithm::ElgamalEncrypt
    )
}

/// Reads an ASCII-armored public key (one transferable key), checks its self-signatures, and
/// refuses keys Terraform could not read (so no release signed with them can be installed).
pub fn parse_public_key(armored: &str) -> Result<ParsedKey, SigningError> {
    let parsed = read_public_key(armored)?;
    let (key, _) =
        SignedPublicKey::from_armor_single(std::io::Cursor::new(parsed.ascii_armor.as_bytes()))
            .map_err(|e| SigningError::InvalidKey(e.to_string()))?;
    let algorithms =
        std::iter::once(key.algorithm()).chain(key.public_subkeys.iter().map(|s| s.algorithm()));
    for algorithm in algorithms {
        if !terraform_reads(algorithm) {
            return Err(SigningError::UnsupportedAlgorithm(algorithm));
        }
    }
    Ok(parsed)
}

/// [`parse_public_key`] without the algorithm policy: the key as rPGP reads it.
pub fn read_public_key(armored: &str) -> Result<ParsedKey, SigningError> {
    if armored.len() > MAX_ARMORED_KEY_BYTES {
        return Err(SigningError::KeyTooLarge);
    }
    let trimmed = armored.trim();
    if !trimmed.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return Err(SigningError::InvalidKey(
            "it does not start with the public key armor header".into(),
        ));
    }
    let (key, _) = SignedPublicKey::from_armor_single(std::io::Cursor::new(trimmed.as_bytes()))
        .map_err(|e| SigningError::InvalidKey(e.to_string()))?;
    key.verify_bindings()
        .map_err(|e| SigningError::InvalidBindings(e.to_string()))?;
    Ok(ParsedKey {
        key_id: key_id_hex(key.legacy_key_id()),
        fingerprint: format!("{:X}", key.fingerprint()),
        ascii_armor: format!("{trimmed}\n"),
    })
}

/// A detached signature in binary form (what Terraform reads), from a binary or an
/// ASCII-armored (`gpg --armor --detach-sign`) upload.
pub fn binary_signature(uploaded: &[u8]) -> Result<Vec<u8>, SigningError> {
    if uploaded.len() > MAX_SIGNATURE_BYTES {
        return Err(SigningError::SignatureTooLarge);
    }
    let signature = read_signature(uploaded)?;
    signature
        .to_bytes()
        .map_err(|e| SigningError::InvalidSignature(e.to_string()))
}

fn read_signature(bytes: &[u8]) -> Result<DetachedSignature, SigningError> {
    let invalid = |e: pgp::errors::Error| SigningError::InvalidSignature(e.to_string());
    let armored = bytes
        .trim_ascii_start()
        .starts_with(b"-----BEGIN PGP SIGNATURE-----");
    if armored {
        Ok(
            DetachedSignature::from_armor_single(std::io::Cursor::new(bytes))
                .map_err(invalid)?
                .0,
        )
    } else {
        DetachedSignature::from_bytes(bytes).map_err(invalid)
    }
}

/// Checks `signature` (binary) over `document` against `keys`, the keys registered for
/// `namespace`; returns the key ID of the registered key that made it.
pub fn verify_release_signature(
    document: &[u8],
    signature: &[u8],
    keys: &[ParsedKey],
    namespace: &str,
) -> Result<String, SigningError> {
    let signature = read_signature(signature)?;
    match signature.signature.typ() {
        Some(SignatureType::Binary) => {}
        other => {
            return Err(SigningError::NotBinary(
                other.map_or_else(|| "unknown".to_owned(), |t| format!("{t:?}")),
            ))
        }
    }
    let issuers: Vec<String> = signature
        .signature
        .issuer_key_id()
        .into_iter()
        .map(key_id_hex)
        .collect();
    let issuer_fingerprints: Vec<String> = signature
        .signature
        .issuer_fingerprint()
        .into_iter()
        .map(|f| format!("{f:X}"))
        .collect();
    for registered in keys {
        let Ok((key, _)) = SignedPublicKey::from_armor_single(std::io::Cursor::new(
            registered.ascii_armor.as_bytes(),
        )) else {
            continue;
        };
        // The primary key, then the subkeys whose bindings hold (an unbound subkey is not
        // the key's, for Terraform either). `None` is the primary key.
        let mut candidates: Vec<(String, String, Option<usize>)> = vec![(
            key_id_hex(key.legacy_key_id()),
            format!("{:X}", key.fingerprint()),
            None,
        )];
        for (index, subkey) in key.public_subkeys.iter().enumerate() {
            if subkey.verify_bindings(&key.primary_key).is_ok() {
                candidates.push((
                    key_id_hex(subkey.legacy_key_id()),
                    format!("{:X}", subkey.fingerprint()),
                    Some(index),
                ));
            }
        }
        for (id, fingerprint, subkey) in candidates {
            let named = issuers.contains(&id) || issuer_fingerprints.contains(&fingerprint);
            if !named {
                continue;
            }
            let verified = match subkey {
                None => signature.verify(&key, document),
                Some(index) => signature.verify(&key.public_subkeys[index], document),
            };
            return match verified {
                Ok(()) => Ok(registered.key_id.clone()),
                Err(_) => Err(SigningError::BadSignature {
                    key_id: registered.key_id.clone(),
                }),
            };
        }
    }
    let issuer = issuers
        .first()
        .cloned()
        .or_else(|| issuer_fingerprints.first().cloned())
        .unwrap_or_else(|| "(unnamed)".into());
    let registered = if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.iter()
            .map(|k| k.key_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(SigningError::UnknownIssuer {
        issuer,
        namespace: namespace.to_owned(),
        registered,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pgp::composed::{KeyType, SecretKeyParamsBuilder, SignedSecretKey};
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::types::Password;

    /// A fresh Ed25519 signing key (fast to make; the end-to-end tests use gpg's RSA keys).
    pub fn secret_key(user: &str) -> SignedSecretKey {
        SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user.into())
            .passphrase(None)
            .build()
            .unwrap()
            .generate(rand::thread_rng())
            .unwrap()
    }

    pub fn armored_public(key: &SignedSecretKey) -> String {
        key.to_public_key()
            .to_armored_string(Default::default())
            .unwrap()
    }

    pub fn sign(key: &SignedSecretKey, data: &[u8]) -> Vec<u8> {
        DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &key.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .unwrap()
        .to_bytes()
        .unwrap()
    }

    const SUMS: &[u8] = b"00  terraform-provider-dns_1.0.0_linux_amd64.zip\n";

    /// An RSA public key made with gpg (`rsa2048 sign`), ID 8E71EE9D0DB78D83.
    pub const RSA_PUBLIC_KEY: &str = include_str!("fixtures/rsa2048-public.asc");

    #[test]
    fn keys_terraform_cannot_read_are_refused() {
        let parsed = parse_public_key(RSA_PUBLIC_KEY).unwrap();
        assert_eq!(parsed.key_id, "8E71EE9D0DB78D83");
        let ed25519 = armored_public(&secret_key("Acme <a@acme.example>"));
        let error = parse_public_key(&ed25519).unwrap_err();
        assert_eq!(
            error,
            SigningError::UnsupportedAlgorithm(PublicKeyAlgorithm::EdDSALegacy)
        );
        assert!(error.to_string().contains("rsa4096"), "{error}");
    }

    #[test]
    fn a_registered_key_reads_back_with_its_id() {
        let key = secret_key("Acme <a@acme.example>");
        let parsed = read_public_key(&armored_public(&key)).unwrap();
        assert_eq!(
            parsed.key_id,
            hex::encode_upper(key.legacy_key_id().as_ref())
        );
        assert_eq!(parsed.key_id.len(), 16);
        assert_eq!(parsed.fingerprint.len(), 40);
        assert!(parsed
            .ascii_armor
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
        for bad in [
            "",
            "hello",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----",
        ] {
            assert!(
                matches!(parse_public_key(bad), Err(SigningError::InvalidKey(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            read_public_key(&"x".repeat(MAX_ARMORED_KEY_BYTES + 1)),
            Err(SigningError::KeyTooLarge)
        );
    }

    #[test]
    fn a_signature_verifies_only_for_its_document_and_a_registered_key() {
        let key = secret_key("Acme <a@acme.example>");
        let registered = vec![read_public_key(&armored_public(&key)).unwrap()];
        let signature = sign(&key, SUMS);
        assert_eq!(
            verify_release_signature(SUMS, &signature, &registered, "acme"),
            Ok(registered[0].key_id.clone())
        );
        // Armored signatures are taken and stored binary.
        let armored = DetachedSignature::from_bytes(&signature[..])
            .unwrap()
            .to_armored_bytes(Default::default())
            .unwrap();
        assert_eq!(binary_signature(&armored).unwrap(), signature);
        assert_eq!(binary_signature(&signature).unwrap(), signature);

        let tampered = b"11  terraform-provider-dns_1.0.0_linux_amd64.zip\n";
        assert_eq!(
            verify_release_signature(tampered, &signature, &registered, "acme"),
            Err(SigningError::BadSignature {
                key_id: registered[0].key_id.clone()
            })
        );
        let stranger = secret_key("Else <e@example.com>");
        let error = verify_release_signature(SUMS, &sign(&stranger, SUMS), &registered, "acme")
            .unwrap_err();
        let stranger_id = hex::encode_upper(stranger.legacy_key_id().as_ref());
        assert_eq!(
            error.to_string(),
            format!(
                "SHA256SUMS is signed by key {stranger_id}, which is not registered for namespace acme (registered: {})",
                registered[0].key_id
            )
        );
        assert!(matches!(
            verify_release_signature(SUMS, &signature, &[], "acme"),
            Err(SigningError::UnknownIssuer { registered, .. }) if registered == "none"
        ));
        assert!(matches!(
            verify_release_signature(SUMS, b"not a signature", &registered, "acme"),
            Err(SigningError::InvalidSignature(_))
        ));
    }

    #[test]
    fn a_text_mode_signature_is_refused_as_terraform_would_fail_it() {
        let key = secret_key("Acme <a@acme.example>");
        let registered = vec![read_public_key(&armored_public(&key)).unwrap()];
        let text = DetachedSignature::sign_text_data(
            rand::thread_rng(),
            &key.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            SUMS,
        )
        .unwrap()
        .to_bytes()
        .unwrap();
        let error = verify_release_signature(SUMS, &text, &registered, "acme").unwrap_err();
        assert!(matches!(error, SigningError::NotBinary(_)), "{error}");
    }
}
