//! The part of OpenPGP (RFC 4880, RFC 9580 version 4) that provider signatures need: reading a
//! transferable public key and a detached signature, and checking RSA signatures with `ring`.
//!
//! Terraform checks `SHA256SUMS` with Go's `x/crypto/openpgp` (`ReadArmoredKeyRing`, then
//! `CheckDetachedSignature`). What this module accepts is meant to be a subset of what that
//! code accepts, so a release the registry takes is one `terraform init` installs:
//!
//! - a key is one version 4 RSA primary key with at least one user ID self-certified by it
//!   (type 0x10 or 0x13, naming it by issuer key ID, as old Go requires), every signature on a
//!   user ID that names the primary key valid (newer Go checks them all), every signature in
//!   the key readable, and every subkey followed by bindings or revocations that all verify;
//! - a key carrying a revocation signature is refused (Go keeps it but verifies nothing with it);
//! - the primary key may sign unless a self-signature's key flags leave signing out (Go picks
//!   one of them, which one varies); a subkey may sign only when every binding says so and
//!   carries a valid primary-key binding ("cross-signature", type 0x19) made by the subkey, and
//!   nothing revokes it (Go also lets a subkey without key flags sign; gpg never makes one);
//! - a signature must name its key by a 64-bit issuer key ID (Go looks keys up by it alone),
//!   carry a creation time, be a binary-document signature (0x00), use SHA-256, SHA-384 or
//!   SHA-512, and have no critical subpacket Go does not know.
//!
//! Only RSA is verified (ring has no DSA): RSA keys of 2048 to 8192 bits, ring's range.
//! ElGamal encryption subkeys are read and never used. DSA keys, which Terraform reads, are
//! refused at registration rather than taken and then failing every publish; 1024-bit RSA keys,
//! which Go accepts, are refused too. Expiry times are not checked, as Terraform does not.

mod armor;
mod packet;
#[cfg(test)]
pub(crate) mod testkey;
#[cfg(test)]
mod tests;

pub use armor::{armor, dearmor, ArmorKind};
use packet::{packets, Reader};
use ring::digest;
use ring::signature::{self, RsaPublicKeyComponents};

/// Why bytes are not a key or signature this module takes. The messages are what the user sees,
/// after "the key is not…" / "the signature file is not…" context from the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgpError {
    /// Not OpenPGP at all, or cut short, or inconsistent.
    #[error("{0}")]
    Malformed(String),
    /// Well-formed OpenPGP this registry does not take (versions, hashes, sizes, DSA).
    #[error("{0}")]
    Unsupported(String),
    /// A public-key algorithm Terraform's reader fails on (Ed25519, ECDSA, ECDH, ...).
    #[error("{0}")]
    Algorithm(KeyAlgorithm),
    /// A self-signature or binding that does not hold.
    #[error("{0}")]
    SelfSignature(String),
    /// The key carries a revocation signature.
    #[error("the key is revoked")]
    Revoked,
    /// The signature's arithmetic does not check out against the key and data.
    #[error("the signature does not verify")]
    BadSignature,
}

pub(crate) fn malformed(what: impl Into<String>) -> PgpError {
    PgpError::Malformed(what.into())
}

/// An OpenPGP public-key algorithm ID (RFC 9580 §9.1), named for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAlgorithm(pub u8);

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            1..=3 => "RSA",
            16 => "ElGamal",
            17 => "DSA",
            18 => "ECDH",
            19 => "ECDSA",
            20 => "ElGamal (sign and encrypt)",
            22 => "EdDSA (Ed25519)",
            25 => "X25519",
            26 => "X448",
            27 => "Ed25519",
            28 => "Ed448",
            _ => "unknown",
        };
        write!(f, "{name} (algorithm {})", self.0)
    }
}

/// A version 4 public key or subkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: KeyAlgorithm,
    /// SHA-1 over 0x99, the body's 2-byte length and the body (RFC 9580 §5.5.4.2).
    pub fingerprint: [u8; 20],
    /// RSA modulus and exponent; `None` for ElGamal.
    rsa: Option<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl PublicKey {
    /// The low 64 bits of the fingerprint.
    pub fn key_id(&self) -> [u8; 8] {
        self.fingerprint[12..].try_into().expect("8 bytes")
    }

    fn parse(body: &[u8]) -> Result<Self, PgpError> {
        let mut reader = Reader::new(body, "public key packet");
        let version = reader.u8()?;
        if version != 4 {
            return Err(PgpError::Unsupported(format!(
                "the key is an OpenPGP version {version} key; only version 4 keys are taken (Terraform reads no others)"
            )));
        }
        reader.take(4)?; // creation time
        let algorithm = KeyAlgorithm(reader.u8()?);
        let rsa = match algorithm.0 {
            1..=3 => {
                let (n, e) = (reader.mpi()?, reader.mpi()?);
                let bits = n
                    .first()
                    .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
                if !(2048..=8192).contains(&bits) {
                    return Err(PgpError::Unsupported(format!(
                        "the key has a {bits}-bit RSA key; RSA keys of 2048 to 8192 bits are taken (gpg --quick-gen-key 'Name <email>' rsa4096 sign never)"
                    )));
                }
                Some((n.to_vec(), e.to_vec()))
            }
            16 => {
                for _ in 0..3 {
                    reader.mpi()?;
                }
                None
            }
            17 => {
                return Err(PgpError::Unsupported(
                    "the key is a DSA key; the registry verifies RSA signatures only (Terraform reads DSA keys, but register an RSA key: gpg --quick-gen-key 'Name <email>' rsa4096 sign never)".into(),
                ))
            }
            _ => return Err(PgpError::Algorithm(algorithm)),
        };
        reader.finish()?;
        let mut hashed = vec![0x99];
        hashed.extend_from_slice(
            &u16::try_from(body.len())
                .map_err(|_| malformed("a key packet is too long"))?
                .to_be_bytes(),
        );
        hashed.extend_from_slice(body);
        let fingerprint = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &hashed)
            .as_ref()
            .try_into()
            .expect("20 bytes");
        Ok(PublicKey {
            algorithm,
            fingerprint,
            rsa,
            body: hashed,
        })
    }

    /// 0x99, the 2-byte length and the body: how a key enters a certification's hash.
    fn hashed_form(&self) -> &[u8] {
        &self.body
    }
}

/// The hash algorithms a signature may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    fn from_id(id: u8) -> Result<Self, PgpError> {
        let name = match id {
            8 => return Ok(HashAlgorithm::Sha256),
            9 => return Ok(HashAlgorithm::Sha384),
            10 => return Ok(HashAlgorithm::Sha512),
            1 => "MD5",
            2 => "SHA-1",
            3 => "RIPEMD-160",
            11 => "SHA-224",
            12 | 14 => "SHA-3",
            _ => "an unknown hash",
        };
        Err(PgpError::Unsupported(format!(
            "a signature is made with {name} (hash algorithm {id}); SHA-256, SHA-384 and SHA-512 are taken (gpg --digest-algo SHA256)"
        )))
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        }
    }

    fn rsa(self) -> &'static signature::RsaParameters {
        match self {
            HashAlgorithm::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            HashAlgorithm::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            HashAlgorithm::Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        }
    }
}

/// Signature types (RFC 9580 §5.2.1) this module tells apart.
pub mod sig_type {
    pub const BINARY: u8 = 0x00;
    pub const TEXT: u8 = 0x01;
    pub const GENERIC_CERTIFICATION: u8 = 0x10;
    pub const POSITIVE_CERTIFICATION: u8 = 0x13;
    pub const SUBKEY_BINDING: u8 = 0x18;
    pub const PRIMARY_KEY_BINDING: u8 = 0x19;
    pub const KEY_REVOCATION: u8 = 0x20;
    pub const SUBKEY_REVOCATION: u8 = 0x28;
}

/// Subpacket types Go's reader understands; a critical subpacket of another type makes Go
/// skip the signature, so it is refused here.
const KNOWN_CRITICAL: &[u8] = &[2, 3, 9, 11, 16, 21, 22, 25, 27, 29, 30, 32];

/// A version 4 signature packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub sig_type: u8,
    pub key_algorithm: KeyAlgorithm,
    hash_id: u8,
    /// From version through the hashed subpackets: what the signature's hash covers after the
    /// signed data.
    hashed: Vec<u8>,
    pub issuer_key_id: Option<[u8; 8]>,
    pub issuer_fingerprint: Option<[u8; 20]>,
    has_creation_time: bool,
    /// Key flags (hashed area only), when the subpacket is present.
    pub key_flags: Option<u8>,
    /// The primary-key binding inside a subkey binding.
    embedded: Option<Box<Signature>>,
    hash_prefix: [u8; 2],
    /// The RSA signature value; empty for other algorithms.
    value: Vec<u8>,
}

/// Key flag 0x02: this key may sign data (RFC 9580 §5.2.3.29).
pub const KEY_FLAG_SIGN: u8 = 0x02;

impl Signature {
    fn parse(body: &[u8]) -> Result<Self, PgpError> {
        Self::parse_nested(body, false)
    }

    fn parse_nested(body: &[u8], embedded: bool) -> Result<Self, PgpError> {
        let mut reader = Reader::new(body, "signature packet");
        let version = reader.u8()?;
        if version != 4 {
            return Err(PgpError::Unsupported(format!(
                "a signature is an OpenPGP version {version} signature; only version 4 signatures are taken"
            )));
        }
        let sig_type = reader.u8()?;
        let key_algorithm = KeyAlgorithm(reader.u8()?);
        let hash_id = reader.u8()?;
        let hashed_length = reader.u16()?;
        let hashed_subpackets = reader.take(hashed_length)?;
        let hashed = body[..6 + hashed_length].to_vec();
        let unhashed_length = reader.u16()?;
        let unhashed_subpackets = reader.take(unhashed_length)?;
        let hash_prefix = reader.take(2)?.try_into().expect("2 bytes");
        let value = match key_algorithm.0 {
            1..=3 => {
                let value = reader.mpi()?.to_vec();
                reader.finish()?;
                value
            }
            _ => Vec::new(), // never verified; the algorithm check refuses it
        };
        let mut signature = Signature {
            sig_type,
            key_algorithm,
            hash_id,
            hashed,
            issuer_key_id: None,
            issuer_fingerprint: None,
            has_creation_time: false,
            key_flags: None,
            embedded: None,
            hash_prefix,
            value,
        };
        signature.read_subpackets(hashed_subpackets, true, embedded)?;
        signature.read_subpackets(unhashed_subpackets, false, embedded)?;
        Ok(signature)
    }

    fn read_subpackets(
        &mut self,
        bytes: &[u8],
        hashed: bool,
        embedded: bool,
    ) -> Result<(), PgpError> {
        let mut reader = Reader::new(bytes, "signature subpacket area");
        while !reader.is_empty() {
            let first = usize::from(reader.u8()?);
            let length = match first {
                0..=191 => first,
                192..=254 => ((first - 192) << 8) + usize::from(reader.u8()?) + 192,
                _ => reader.u32()?,
            };
            let data = reader.take(length)?;
            let (&kind, data) = data
                .split_first()
                .ok_or_else(|| malformed("a signature subpacket is empty"))?;
            let critical = kind & 0x80 != 0;
            let kind = kind & 0x7F;
            if critical && !KNOWN_CRITICAL.contains(&kind) {
                return Err(PgpError::Unsupported(format!(
                    "a signature has a critical subpacket of type {kind}, which Terraform's reader does not know"
                )));
            }
            let bad =
                |what: &str| malformed(format!("a signature's {what} subpacket is malformed"));
            match kind {
                2 if hashed => {
                    if data.len() != 4 {
                        return Err(bad("creation time"));
                    }
                    self.has_creation_time = true;
                }
                16 => {
                    let id = data.try_into().map_err(|_| bad("issuer"))?;
                    if self.issuer_key_id.is_some_and(|known| known != id) {
                        return Err(malformed("a signature names two issuers"));
                    }
                    self.issuer_key_id = Some(id);
                }
                33 => {
                    // Version 4 fingerprints only (a version byte, then 20 bytes).
                    if let [4, fingerprint @ ..] = data {
                        let fingerprint = fingerprint
                            .try_into()
                            .map_err(|_| bad("issuer fingerprint"))?;
                        self.issuer_fingerprint = Some(fingerprint);
                    }
                }
                27 if hashed => {
                    self.key_flags = Some(*data.first().ok_or_else(|| bad("key flags"))?);
                }
                32 => {
                    // One level only: a binding embeds a back-signature, which embeds nothing.
                    if self.embedded.is_some() || embedded {
                        return Err(malformed("a signature embeds more than one signature"));
                    }
                    self.embedded = Some(Box::new(Signature::parse_nested(data, true)?));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks this signature by `key` over `prefix ‖ data`: the hash prefix, then RSA PKCS#1
    /// v1.5 over `prefix ‖ data ‖ hashed part ‖ 0x04 0xFF ‖ its length`.
    fn verify_parts(&self, key: &PublicKey, parts: &[&[u8]]) -> Result<(), PgpError> {
        if !self.has_creation_time {
            return Err(malformed("a signature has no creation time"));
        }
        let hash = HashAlgorithm::from_id(self.hash_id)?;
        // Go refuses a signature whose algorithm differs from its key's, and keys that
        // cannot sign (RSA encrypt-only, 2; ElGamal).
        let Some((n, e)) = &key.rsa else {
            return Err(PgpError::BadSignature);
        };
        if self.key_algorithm != key.algorithm || key.algorithm.0 == 2 {
            return Err(PgpError::BadSignature);
        }
        let length = u32::try_from(self.hashed.len()).expect("at most 65541 bytes");
        let mut trailer = vec![0x04, 0xFF];
        trailer.extend_from_slice(&length.to_be_bytes());
        let mut message = parts.concat();
        message.extend_from_slice(&self.hashed);
        message.extend_from_slice(&trailer);
        if digest::digest(hash.digest(), &message).as_ref()[..2] != self.hash_prefix {
            return Err(PgpError::BadSignature);
        }
        // ring wants the signature as long as the modulus; an MPI drops leading zeros.
        if self.value.len() > n.len() {
            return Err(PgpError::BadSignature);
        }
        let mut value = vec![0; n.len() - self.value.len()];
        value.extend_from_slice(&self.value);
        RsaPublicKeyComponents { n, e }
            .verify(hash.rsa(), &message, &value)
            .map_err(|_| PgpError::BadSignature)
    }

    /// Checks this signature (a detached one) by `key` over `document`.
    pub fn verify(&self, key: &PublicKey, document: &[u8]) -> Result<(), PgpError> {
        self.verify_parts(key, &[document])
    }

    /// Whether this signature names `key`: by key ID, and by fingerprint when it gives one.
    pub fn names(&self, key: &PublicKey) -> bool {
        self.issuer_key_id == Some(key.key_id())
            && self.issuer_fingerprint.is_none_or(|f| f == key.fingerprint)
    }

    /// The hash algorithm, refused unless SHA-256/384/512.
    pub fn hash(&self) -> Result<HashAlgorithm, PgpError> {
        HashAlgorithm::from_id(self.hash_id)
    }
}

/// A detached signature: exactly one version 4 signature packet, binary or armored. Returns it
/// with the packet's binary form (what Terraform reads).
pub fn read_detached_signature(input: &[u8]) -> Result<(Signature, Vec<u8>), PgpError> {
    let binary = dearmor(input, ArmorKind::Signature)?;
    let packets = packets(&binary)?;
    let [packet] = &packets[..] else {
        return Err(malformed(format!(
            "a detached signature is one signature packet; this has {} packets",
            packets.len()
        )));
    };
    if packet.tag != 2 {
        return Err(malformed(format!(
            "a detached signature is a signature packet (tag 2), not a packet of tag {}",
            packet.tag
        )));
    }
    Ok((Signature::parse(packet.body)?, packet.raw.to_vec()))
}

/// A key as registered: its primary key, the keys that may verify signatures (the primary key
/// and signing subkeys), and its packets in binary form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub primary: PublicKey,
    pub signing_keys: Vec<PublicKey>,
    pub binary: Vec<u8>,
}

/// What a signature packet in a key follows.
#[derive(Clone, Copy)]
enum Component {
    Primary,
    UserId,
    UserAttribute,
    Subkey(usize),
}

/// Reads one transferable public key (RFC 9580 §10.1), binary or armored, and checks its
/// self-signatures as Go's `ReadEntity` does (see the module documentation).
pub fn read_certificate(input: &[u8]) -> Result<Certificate, PgpError> {
    let binary = dearmor(input, ArmorKind::PublicKey)?;
    let packets = packets(&binary)?;
    let (first, rest) = packets
        .split_first()
        .ok_or_else(|| malformed("there is no key in it"))?;
    if matches!(first.tag, 5 | 7) {
        return Err(malformed(
            "it is a secret key: register the public key (gpg --armor --export KEY_ID)",
        ));
    }
    if first.tag != 6 {
        return Err(malformed(format!(
            "a key starts with a public-key packet (tag 6), not a packet of tag {}",
            first.tag
        )));
    }
    let primary = PublicKey::parse(first.body)?;
    let mut subkeys: Vec<(PublicKey, Vec<Signature>)> = Vec::new();
    let mut user_ids: Vec<(Vec<u8>, Vec<Signature>)> = Vec::new();
    let mut direct: Vec<Signature> = Vec::new();
    let mut current = Component::Primary;
    for packet in rest {
        match packet.tag {
            6 => {
                return Err(malformed(
                    "it holds more than one key: register one key at a time",
                ))
            }
            5 | 7 => {
                return Err(malformed(
                    "it holds a secret key: register the public key only",
                ))
            }
            13 => {
                user_ids.push((packet.body.to_vec(), Vec::new()));
                current = Component::UserId;
            }
            17 => current = Component::UserAttribute,
            14 => {
                subkeys.push((PublicKey::parse(packet.body)?, Vec::new()));
                current = Component::Subkey(subkeys.len() - 1);
            }
            2 => {
                // Every signature must read, whatever it is on: Go skips some it cannot read
                // and fails the whole key on others, and which is which varies by version.
                let signature = Signature::parse(packet.body)?;
                match current {
                    Component::Subkey(i) => subkeys[i].1.push(signature),
                    Component::Primary => direct.push(signature),
                    Component::UserId => user_ids.last_mut().expect("a user ID").1.push(signature),
                    Component::UserAttribute => {}
                }
            }
            12 | 10 => {} // trust and marker packets
            tag => {
                return Err(malformed(format!(
                    "a key does not hold packets of tag {tag}"
                )))
            }
        }
    }
    let primary_hashed = primary.hashed_form().to_vec();
    // Go refuses a key whose revocation does not verify, and verifies nothing with a revoked
    // one: either way, no release could be installed.
    let revocation = direct
        .iter()
        .find(|s| s.sig_type == sig_type::KEY_REVOCATION);
    if let Some(revocation) = revocation {
        return Err(
            match revocation.verify_parts(&primary, &[&primary_hashed]) {
                Ok(()) => PgpError::Revoked,
                Err(e) => PgpError::SelfSignature(format!(
                    "the key's revocation signature does not verify: {e}"
                )),
            },
        );
    }
    // Versions of Go's reader differ in which user ID signatures they check (issuer key ID
    // only, or fingerprint too; positive and generic certifications, or all four) and in
    // which self-signature they then use: every one naming the primary key must verify, and
    // the primary key signs only if none of them leaves signing out.
    let mut self_signed = false;
    let mut primary_may_sign = matches!(primary.algorithm.0, 1 | 3);
    for (user_id, signatures) in &user_ids {
        let name = String::from_utf8_lossy(user_id);
        let length =
            u32::try_from(user_id.len()).map_err(|_| malformed("a user ID is too long"))?;
        let mut header = vec![0xB4];
        header.extend_from_slice(&length.to_be_bytes());
        for signature in signatures {
            let by_primary = signature.issuer_key_id == Some(primary.key_id())
                || signature.issuer_fingerprint == Some(primary.fingerprint);
            let certification = (0x10..=0x13).contains(&signature.sig_type);
            if !by_primary {
                continue;
            }
            if !certification {
                return Err(PgpError::Unsupported(format!(
                    "user ID {name:?} carries a signature of type 0x{:02X} by the key (a revoked user ID?); export the key without it",
                    signature.sig_type
                )));
            }
            signature
                .verify_parts(&primary, &[&primary_hashed, &header, user_id])
                .map_err(|e| {
                    PgpError::SelfSignature(format!(
                        "the self-signature of user ID {name:?} does not verify: {e}"
                    ))
                })?;
            self_signed |= signature.issuer_key_id == Some(primary.key_id())
                && matches!(
                    signature.sig_type,
                    sig_type::GENERIC_CERTIFICATION | sig_type::POSITIVE_CERTIFICATION
                );
            primary_may_sign &= signature.key_flags.is_none_or(|f| f & KEY_FLAG_SIGN != 0);
        }
    }
    if !self_signed {
        return Err(PgpError::SelfSignature(
            "the key has no user ID self-signed by its primary key".into(),
        ));
    }
    let mut signing_keys = Vec::new();
    if primary_may_sign {
        signing_keys.push(primary.clone());
    }
    for (subkey, signatures) in subkeys {
        if let Some(signer) = read_subkey(&primary, subkey, &signatures)? {
            signing_keys.push(signer);
        }
    }
    Ok(Certificate {
        primary,
        signing_keys,
        binary,
    })
}

/// Checks a subkey's signatures as the stricter versions of Go's reader do (each a binding or
/// a revocation, each valid, a signing binding cross-signed); returns the subkey when it may
/// sign: every binding says so and nothing revokes it.
fn read_subkey(
    primary: &PublicKey,
    subkey: PublicKey,
    signatures: &[Signature],
) -> Result<Option<PublicKey>, PgpError> {
    let id = hex::encode_upper(subkey.key_id());
    let invalid = |e: PgpError| {
        PgpError::SelfSignature(format!("the binding of subkey {id} does not verify: {e}"))
    };
    if signatures.is_empty() {
        return Err(PgpError::SelfSignature(format!(
            "subkey {id} has no binding signature"
        )));
    }
    let parts: [&[u8]; 2] = [primary.hashed_form(), subkey.hashed_form()];
    let mut signs = true;
    let mut revoked = false;
    for signature in signatures {
        match signature.sig_type {
            sig_type::SUBKEY_BINDING => {}
            sig_type::SUBKEY_REVOCATION => revoked = true,
            other => {
                return Err(PgpError::SelfSignature(format!(
                    "subkey {id} carries a signature of type 0x{other:02X}, where a binding or revocation belongs"
                )))
            }
        }
        signature.verify_parts(primary, &parts).map_err(invalid)?;
        let binding_signs = signature.sig_type == sig_type::SUBKEY_BINDING
            && signature.key_flags.is_some_and(|f| f & KEY_FLAG_SIGN != 0);
        if binding_signs {
            // A signing subkey must sign its primary key back, or anyone could bind another's
            // signing key to theirs (Go refuses the key without it).
            let back = signature
                .embedded
                .as_deref()
                .filter(|s| s.sig_type == sig_type::PRIMARY_KEY_BINDING)
                .ok_or_else(|| {
                    PgpError::SelfSignature(format!(
                        "signing subkey {id} has no primary-key binding (cross-signature)"
                    ))
                })?;
            back.verify_parts(&subkey, &parts).map_err(invalid)?;
        } else if signature.sig_type == sig_type::SUBKEY_BINDING {
            signs = false;
        }
    }
    Ok((signs && !revoked && matches!(subkey.algorithm.0, 1 | 3)).then_some(subkey))
}
