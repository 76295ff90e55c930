//! GPG keys registered for a namespace, and the check of a release's signature.
//!
//! Terraform verifies `SHA256SUMS` against the download answer's `signing_keys` with Go's
//! `openpgp.CheckDetachedSignature`: a binary (not armored) detached signature over the file's
//! bytes, made by the primary key or a signing subkey of one of the keys listed. The registry
//! runs the same check at publish with its own small OpenPGP reader ([`super::openpgp`]: RSA
//! over `ring`, what Terraform accepts and nothing more), so a release it accepts is one
//! Terraform accepts, and stores the signature in binary form whatever form it came in.

use super::openpgp::{self, sig_type, ArmorKind, KeyAlgorithm, PgpError};

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
    /// The key ASCII-armored as gpg writes it, re-armored from the packets that were checked
    /// (so Terraform's armor reader sees the same bytes, with the CRC-24 line it expects).
    pub ascii_armor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the key is not an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----): {0}")]
    InvalidKey(String),
    #[error("the key is larger than {MAX_ARMORED_KEY_BYTES} bytes")]
    KeyTooLarge,
    #[error("{0}")]
    UnsupportedKey(String),
    #[error("the key's self-signatures do not verify: {0}")]
    InvalidBindings(String),
    #[error("the key (or a subkey) is {0}, which Terraform cannot read: Terraform 1.0 fails every install with \"error decoding signing key: openpgp: unsupported feature: public key type: 22\" for an Ed25519 key (gpg's default); register an RSA key (gpg --quick-gen-key 'Name <email>' rsa4096 sign never)")]
    UnsupportedAlgorithm(KeyAlgorithm),
    #[error("the key can sign nothing: neither its primary key nor a subkey is an RSA key allowed to sign (key flags, cross-signature) and not revoked")]
    NoSigningKey,
    #[error("the signature file is not an OpenPGP detached signature: {0}")]
    InvalidSignature(String),
    #[error("the signature file is larger than {MAX_SIGNATURE_BYTES} bytes")]
    SignatureTooLarge,
    #[error("the signature is a {0} signature; sign SHA256SUMS as binary data (gpg --detach-sign), as Terraform checks it")]
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

impl From<PgpError> for SigningError {
    /// The error of reading a key.
    fn from(error: PgpError) -> Self {
        match error {
            PgpError::Malformed(m) => SigningError::InvalidKey(m),
            PgpError::Unsupported(m) => SigningError::UnsupportedKey(m),
            PgpError::Algorithm(a) => SigningError::UnsupportedAlgorithm(a),
            PgpError::SelfSignature(m) => SigningError::InvalidBindings(m),
            PgpError::Revoked => SigningError::UnsupportedKey(
                "the key is revoked: Terraform verifies nothing with a revoked key".into(),
            ),
            PgpError::BadSignature => {
                SigningError::InvalidBindings("a self-signature does not verify".into())
            }
        }
    }
}

/// Reads an ASCII-armored public key (one transferable key), checks its self-signatures, and
/// refuses keys Terraform could not read or this registry cannot verify with (so no release
/// signed with them could be published or installed).
pub fn parse_public_key(armored: &str) -> Result<ParsedKey, SigningError> {
    if armored.len() > MAX_ARMORED_KEY_BYTES {
        return Err(SigningError::KeyTooLarge);
    }
    let trimmed = armored.trim();
    if !trimmed.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return Err(SigningError::InvalidKey(
            "it does not start with the public key armor header".into(),
        ));
    }
    let key = openpgp::read_certificate(trimmed.as_bytes())?;
    if key.signing_keys.is_empty() {
        return Err(SigningError::NoSigningKey);
    }
    Ok(ParsedKey {
        key_id: hex::encode_upper(key.primary.key_id()),
        fingerprint: hex::encode_upper(key.primary.fingerprint),
        ascii_armor: openpgp::armor(&key.binary, ArmorKind::PublicKey),
    })
}

/// A detached signature in binary form (what Terraform reads), from a binary or an
/// ASCII-armored (`gpg --armor --detach-sign`) upload.
pub fn binary_signature(uploaded: &[u8]) -> Result<Vec<u8>, SigningError> {
    if uploaded.len() > MAX_SIGNATURE_BYTES {
        return Err(SigningError::SignatureTooLarge);
    }
    let (_, binary) = openpgp::read_detached_signature(uploaded)
        .map_err(|e| SigningError::InvalidSignature(e.to_string()))?;
    Ok(binary)
}

/// Checks `signature` (binary) over `document` against `keys`, the keys registered for
/// `namespace`; returns the key ID of the registered key that made it.
pub fn verify_release_signature(
    document: &[u8],
    signature: &[u8],
    keys: &[ParsedKey],
    namespace: &str,
) -> Result<String, SigningError> {
    let invalid = |e: PgpError| SigningError::InvalidSignature(e.to_string());
    let (signature, _) = openpgp::read_detached_signature(signature).map_err(invalid)?;
    if signature.sig_type != sig_type::BINARY {
        let kind = match signature.sig_type {
            sig_type::TEXT => "text-mode (0x01)".to_owned(),
            other => format!("type 0x{other:02X}"),
        };
        return Err(SigningError::NotBinary(kind));
    }
    signature.hash().map_err(invalid)?;
    // Go finds the key by the issuer key ID subpacket alone, and fails without one.
    let Some(issuer) = signature.issuer_key_id else {
        return Err(SigningError::InvalidSignature(
            "the signature does not name its key (no issuer key ID subpacket), which Terraform requires".into(),
        ));
    };
    for registered in keys {
        // Registered keys were read at registration; one that no longer reads is skipped.
        let Ok(key) = openpgp::read_certificate(registered.ascii_armor.as_bytes()) else {
            continue;
        };
        if let Some(signer) = key.signing_keys.iter().find(|k| signature.names(k)) {
            return match signature.verify(signer, document) {
                Ok(()) => Ok(registered.key_id.clone()),
                Err(PgpError::BadSignature) => Err(SigningError::BadSignature {
                    key_id: registered.key_id.clone(),
                }),
                Err(e) => Err(invalid(e)),
            };
        }
    }
    let registered = if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.iter()
            .map(|k| k.key_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(SigningError::UnknownIssuer {
        issuer: hex::encode_upper(issuer),
        namespace: namespace.to_owned(),
        registered,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::providers::openpgp::testkey::{acme_key, stranger_key, SignatureSpec};

    const SUMS: &[u8] = b"00  terraform-provider-dns_1.0.0_linux_amd64.zip\n";

    /// An RSA public key made with gpg (`rsa2048 sign`), ID 8E71EE9D0DB78D83.
    pub const RSA_PUBLIC_KEY: &str = include_str!("fixtures/rsa2048-public.asc");
    /// gpg's Ed25519 key (its default), which Terraform 1.0 cannot read.
    pub const ED25519_PUBLIC_KEY: &str = include_str!("fixtures/ed25519-public.asc");

    #[test]
    fn keys_terraform_cannot_read_or_the_registry_cannot_check_are_refused() {
        let parsed = parse_public_key(RSA_PUBLIC_KEY).unwrap();
        assert_eq!(parsed.key_id, "8E71EE9D0DB78D83");
        let error = parse_public_key(ED25519_PUBLIC_KEY).unwrap_err();
        assert_eq!(error, SigningError::UnsupportedAlgorithm(KeyAlgorithm(22)));
        assert!(error.to_string().contains("rsa4096"), "{error}");
        let dsa = parse_public_key(include_str!("fixtures/dsa2048-public.asc")).unwrap_err();
        assert!(
            dsa.to_string()
                .starts_with("the key is a DSA key; the registry verifies RSA signatures only"),
            "{dsa}"
        );
        let small = parse_public_key(include_str!("fixtures/rsa1024-public.asc")).unwrap_err();
        assert_eq!(
            small.to_string(),
            "the key has a 1024-bit RSA key; RSA keys of 2048 to 8192 bits are taken (gpg --quick-gen-key 'Name <email>' rsa4096 sign never)"
        );
    }

    #[test]
    fn a_registered_key_reads_back_with_its_id() {
        let key = acme_key();
        let parsed = parse_public_key(&key.armored_public()).unwrap();
        assert_eq!(parsed.key_id, key.key_id());
        assert_eq!(
            parsed.fingerprint,
            hex::encode_upper(key.primary.fingerprint())
        );
        assert_eq!(parsed.ascii_armor, key.armored_public());
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
            parse_public_key(&"x".repeat(MAX_ARMORED_KEY_BYTES + 1)),
            Err(SigningError::KeyTooLarge)
        );
    }

    #[test]
    fn a_signature_verifies_only_for_its_document_and_a_registered_key() {
        let key = acme_key();
        let registered = vec![parse_public_key(&key.armored_public()).unwrap()];
        let signature = key.sign(SUMS);
        assert_eq!(
            verify_release_signature(SUMS, &signature, &registered, "acme"),
            Ok(registered[0].key_id.clone())
        );
        // Armored signatures are taken and stored binary.
        let armored = openpgp::armor(&signature, ArmorKind::Signature);
        assert_eq!(binary_signature(armored.as_bytes()).unwrap(), signature);
        assert_eq!(binary_signature(&signature).unwrap(), signature);

        let tampered = b"11  terraform-provider-dns_1.0.0_linux_amd64.zip\n";
        assert_eq!(
            verify_release_signature(tampered, &signature, &registered, "acme"),
            Err(SigningError::BadSignature {
                key_id: registered[0].key_id.clone()
            })
        );
        let stranger = stranger_key();
        let error =
            verify_release_signature(SUMS, &stranger.sign(SUMS), &registered, "acme").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "SHA256SUMS is signed by key {}, which is not registered for namespace acme (registered: {})",
                stranger.key_id(),
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
        let key = acme_key();
        let registered = vec![parse_public_key(&key.armored_public()).unwrap()];
        let text = key.sign_as(SignatureSpec::by(key.signer(), 0x01), SUMS);
        let error = verify_release_signature(SUMS, &text, &registered, "acme").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the signature is a text-mode (0x01) signature; sign SHA256SUMS as binary data (gpg --detach-sign), as Terraform checks it"
        );
    }

    #[test]
    fn a_gpg_release_key_signs_with_its_subkey_and_answers_with_the_primary_id() {
        let key =
            parse_public_key(include_str!("fixtures/rsa3072-signing-subkey-public.asc")).unwrap();
        assert_eq!(key.key_id, "CED7CAD112E3513A");
        let registered = [key];
        for signature in [
            &include_bytes!("fixtures/rsa3072-subkey-sums.sig")[..],
            include_bytes!("fixtures/rsa3072-subkey-sums-sha512.sig"),
        ] {
            assert_eq!(
                verify_release_signature(SUMS, signature, &registered, "acme"),
                Ok("CED7CAD112E3513A".to_owned())
            );
        }
        let sha1 = include_bytes!("fixtures/rsa3072-subkey-sums-sha1.sig");
        assert_eq!(
            verify_release_signature(SUMS, sha1, &registered, "acme").unwrap_err().to_string(),
            "the signature file is not an OpenPGP detached signature: a signature is made with SHA-1 (hash algorithm 2); SHA-256, SHA-384 and SHA-512 are taken (gpg --digest-algo SHA256)"
        );
        // The primary key without its signing subkey signs nothing (key flags: certify).
        let binary =
            openpgp::dearmor(registered[0].ascii_armor.as_bytes(), ArmorKind::PublicKey).unwrap();
        let certify_only = openpgp::armor(&binary[..902], ArmorKind::PublicKey);
        assert_eq!(
            parse_public_key(&certify_only),
            Err(SigningError::NoSigningKey)
        );
    }

    #[test]
    fn a_signature_without_an_issuer_key_id_is_refused_as_terraform_would_fail_it() {
        let key = acme_key();
        let registered = vec![parse_public_key(&key.armored_public()).unwrap()];
        let spec = SignatureSpec {
            unhashed: Vec::new(),
            ..SignatureSpec::by(key.signer(), 0)
        };
        let error = verify_release_signature(SUMS, &key.sign_as(spec, SUMS), &registered, "acme")
            .unwrap_err();
        assert!(
            error.to_string().contains("no issuer key ID subpacket"),
            "{error}"
        );
    }
}
