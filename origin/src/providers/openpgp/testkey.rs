//! A small OpenPGP key and signature builder for tests, over `ring`'s RSA signing and fixed
//! PKCS#8 keys (ring makes no RSA keys): what gpg writes, made deterministic and bendable
//! (other signature types and hashes, no cross-signature, revocations).

use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};

use super::{armor, sig_type, ArmorKind, KEY_FLAG_SIGN};

const RSA_A: &str = include_str!("../../../../tests/fixtures/oidc/rsa-a.pem");
const RSA_B: &str = include_str!("../../../../tests/fixtures/oidc/rsa-b.pem");
const RSA_C: &str = include_str!("../fixtures/rsa3072-test-private.pem");

/// Signature creation time of every test signature (2026-11-30).
const CREATED: u32 = 1_796_068_000;

fn key_pair(pem: &str) -> RsaKeyPair {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    RsaKeyPair::from_pkcs8(&der).unwrap()
}

fn mpi(bytes: &[u8]) -> Vec<u8> {
    let bytes = &bytes[bytes.iter().take_while(|&&b| b == 0).count()..];
    let bits = bytes.len() * 8 - bytes.first().map_or(0, |b| b.leading_zeros() as usize);
    let mut out = (bits as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A new-format packet of `tag`.
pub fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC0 | tag, 0xFF];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A signature subpacket of `kind` (0x80 set: critical).
pub fn subpacket(kind: u8, data: &[u8]) -> Vec<u8> {
    let length = data.len() + 1;
    let mut out = if length < 192 {
        vec![length as u8]
    } else {
        let rest = length - 192;
        vec![(rest >> 8) as u8 + 192, rest as u8]
    };
    out.push(kind);
    out.extend_from_slice(data);
    out
}

/// An RSA key as OpenPGP sees it: the key pair and its version 4 public key packet body.
pub struct RsaKey {
    pair: RsaKeyPair,
    body: Vec<u8>,
}

impl RsaKey {
    pub fn a() -> Self {
        Self::new(RSA_A)
    }
    pub fn b() -> Self {
        Self::new(RSA_B)
    }
    pub fn c() -> Self {
        Self::new(RSA_C)
    }

    fn new(pem: &str) -> Self {
        let pair = key_pair(pem);
        let public: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        let mut body = vec![4];
        body.extend_from_slice(&CREATED.to_be_bytes());
        body.push(1);
        body.extend(mpi(&public.n));
        body.extend(mpi(&public.e));
        RsaKey { pair, body }
    }

    /// 0x99, length, body: the key as a certification hashes it.
    pub fn hashed_form(&self) -> Vec<u8> {
        let mut out = vec![0x99];
        out.extend_from_slice(&(self.body.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    pub fn fingerprint(&self) -> [u8; 20] {
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.hashed_form());
        digest.as_ref().try_into().unwrap()
    }

    pub fn key_id(&self) -> String {
        hex::encode_upper(&self.fingerprint()[12..])
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// How a signature is made.
#[derive(Clone)]
pub struct SignatureSpec {
    pub sig_type: u8,
    /// 8, 9 or 10 (SHA-256, -384, -512); another ID is written with a SHA-256 value.
    pub hash_id: u8,
    pub hashed: Vec<u8>,
    pub unhashed: Vec<u8>,
}

impl SignatureSpec {
    /// What gpg writes: issuer fingerprint and creation time hashed, issuer key ID unhashed.
    pub fn by(key: &RsaKey, sig_type: u8) -> Self {
        let mut fingerprint = vec![4];
        fingerprint.extend_from_slice(&key.fingerprint());
        let mut hashed = subpacket(33, &fingerprint);
        hashed.extend(subpacket(0x80 | 2, &CREATED.to_be_bytes()));
        SignatureSpec {
            sig_type,
            hash_id: 8,
            hashed,
            unhashed: subpacket(16, &key.fingerprint()[12..]),
        }
    }

    pub fn hashed(mut self, subpacket: Vec<u8>) -> Self {
        self.hashed.extend(subpacket);
        self
    }

    pub fn unhashed(mut self, subpacket: Vec<u8>) -> Self {
        self.unhashed.extend(subpacket);
        self
    }

    /// The signature packet body by `key` over `data` (everything hashed before the
    /// signature's own fields).
    pub fn sign(&self, key: &RsaKey, data: &[u8]) -> Vec<u8> {
        let mut body = vec![4, self.sig_type, 1, self.hash_id];
        body.extend_from_slice(&(self.hashed.len() as u16).to_be_bytes());
        body.extend_from_slice(&self.hashed);
        let hashed_length = body.len() as u32;
        let mut message = data.to_vec();
        message.extend_from_slice(&body);
        message.extend_from_slice(&[4, 0xFF]);
        message.extend_from_slice(&hashed_length.to_be_bytes());
        let (digest, padding): (_, &'static dyn signature::RsaEncoding) = match self.hash_id {
            9 => (&ring::digest::SHA384, &signature::RSA_PKCS1_SHA384),
            10 => (&ring::digest::SHA512, &signature::RSA_PKCS1_SHA512),
            _ => (&ring::digest::SHA256, &signature::RSA_PKCS1_SHA256),
        };
        let mut value = vec![0; key.pair.public().modulus_len()];
        key.pair
            .sign(padding, &SystemRandom::new(), &message, &mut value)
            .unwrap();
        body.extend_from_slice(&(self.unhashed.len() as u16).to_be_bytes());
        body.extend_from_slice(&self.unhashed);
        body.extend_from_slice(&ring::digest::digest(digest, &message).as_ref()[..2]);
        body.extend(mpi(&value));
        body
    }
}

/// A transferable public key: a primary key, a user ID, optionally a subkey.
pub struct TestKey {
    pub primary: RsaKey,
    pub user_id: String,
    /// Key flags of the user ID self-signature.
    pub primary_flags: u8,
    pub subkey: Option<RsaKey>,
    /// Whether the subkey's binding carries the subkey's primary-key binding.
    pub cross_signed: bool,
}

impl TestKey {
    /// A key that certifies and signs with its primary key (`gpg ... rsa sign`).
    pub fn new(primary: RsaKey, user_id: &str) -> Self {
        TestKey {
            primary,
            user_id: user_id.to_owned(),
            primary_flags: 0x01 | KEY_FLAG_SIGN,
            subkey: None,
            cross_signed: true,
        }
    }

    /// A certify-only primary key with `subkey` to sign (gpg's layout after --quick-add-key).
    pub fn with_signing_subkey(mut self, subkey: RsaKey) -> Self {
        self.primary_flags = 0x01;
        self.subkey = Some(subkey);
        self
    }

    pub fn key_id(&self) -> String {
        self.primary.key_id()
    }

    /// The key's packets: primary, user ID and its self-signature, subkey and its binding.
    pub fn public_packets(&self) -> Vec<u8> {
        let mut out = packet(6, self.primary.body());
        out.extend(packet(13, self.user_id.as_bytes()));
        let mut certified = self.primary.hashed_form();
        certified.push(0xB4);
        certified.extend_from_slice(&(self.user_id.len() as u32).to_be_bytes());
        certified.extend_from_slice(self.user_id.as_bytes());
        let self_signature = SignatureSpec::by(&self.primary, sig_type::POSITIVE_CERTIFICATION)
            .hashed(subpacket(27, &[self.primary_flags]))
            .sign(&self.primary, &certified);
        out.extend(packet(2, &self_signature));
        if let Some(subkey) = &self.subkey {
            out.extend(packet(14, subkey.body()));
            let mut bound = self.primary.hashed_form();
            bound.extend(subkey.hashed_form());
            let mut binding = SignatureSpec::by(&self.primary, sig_type::SUBKEY_BINDING)
                .hashed(subpacket(27, &[KEY_FLAG_SIGN]));
            if self.cross_signed {
                let back =
                    SignatureSpec::by(subkey, sig_type::PRIMARY_KEY_BINDING).sign(subkey, &bound);
                binding = binding.unhashed(subpacket(32, &back));
            }
            out.extend(packet(2, &binding.sign(&self.primary, &bound)));
        }
        out
    }

    pub fn armored_public(&self) -> String {
        armor(&self.public_packets(), ArmorKind::PublicKey)
    }

    /// The key that signs data: the subkey when there is one.
    pub fn signer(&self) -> &RsaKey {
        self.subkey.as_ref().unwrap_or(&self.primary)
    }

    /// A binary detached signature of `data`, as `gpg --detach-sign` makes it.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.sign_as(SignatureSpec::by(self.signer(), sig_type::BINARY), data)
    }

    /// A binary detached signature of `data` made as `spec` says, by [`Self::signer`].
    pub fn sign_as(&self, spec: SignatureSpec, data: &[u8]) -> Vec<u8> {
        packet(2, &spec.sign(self.signer(), data))
    }
}

/// The registry tests' key: RSA, signing with its primary key.
pub fn acme_key() -> TestKey {
    TestKey::new(RsaKey::a(), "Acme <a@acme.example>")
}

/// A key nobody registered.
pub fn stranger_key() -> TestKey {
    TestKey::new(RsaKey::c(), "Else <e@example.com>")
}
