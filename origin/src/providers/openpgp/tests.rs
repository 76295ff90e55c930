//! The OpenPGP reader against keys and signatures made by Debian's gpg 2.2 (fixtures/) and by
//! the test builder, and against broken input.

use super::testkey::{packet, subpacket, RsaKey, SignatureSpec, TestKey};
use super::*;

const SUMS: &[u8] = b"00  terraform-provider-dns_1.0.0_linux_amd64.zip\n";

/// `gpg --quick-gen-key 'Acme Release <release@acme.example>' rsa3072 cert never`, then
/// `gpg --quick-add-key FPR rsa2048 sign never`: the primary key certifies only.
const GPG_KEY: &str = include_str!("../fixtures/rsa3072-signing-subkey-public.asc");
const GPG_PRIMARY: &str = "ACD3492A9B33EE64D6F8E741CED7CAD112E3513A";
const GPG_SUBKEY: &str = "FC21D6468A2A17F208C6D12CA707C51E2B707AAB";
/// `gpg --detach-sign` of [`SUMS`] (by the subkey), armored and not, and with other digests.
const GPG_SIG: &[u8] = include_bytes!("../fixtures/rsa3072-subkey-sums.sig");
const GPG_SIG_ARMORED: &[u8] = include_bytes!("../fixtures/rsa3072-subkey-sums.sig.asc");
const GPG_SIG_SHA512: &[u8] = include_bytes!("../fixtures/rsa3072-subkey-sums-sha512.sig");
const GPG_SIG_SHA1: &[u8] = include_bytes!("../fixtures/rsa3072-subkey-sums-sha1.sig");
const GPG_SIG_TEXT: &[u8] = include_bytes!("../fixtures/rsa3072-subkey-sums-text.sig");

fn signature(bytes: &[u8]) -> Signature {
    read_detached_signature(bytes).unwrap().0
}

#[test]
fn a_gpg_key_with_a_signing_subkey_reads_with_gpgs_fingerprints() {
    let key = read_certificate(GPG_KEY.as_bytes()).unwrap();
    assert_eq!(hex::encode_upper(key.primary.fingerprint), GPG_PRIMARY);
    assert_eq!(hex::encode_upper(key.primary.key_id()), "CED7CAD112E3513A");
    // Key flags 0x01 on the primary's self-signature: only the subkey signs.
    let signers: Vec<String> = key
        .signing_keys
        .iter()
        .map(|k| hex::encode_upper(k.fingerprint))
        .collect();
    assert_eq!(signers, [GPG_SUBKEY]);
    // The binary form re-armors to what dearmor reads back.
    let armored = armor(&key.binary, ArmorKind::PublicKey);
    assert_eq!(
        dearmor(armored.as_bytes(), ArmorKind::PublicKey).unwrap(),
        key.binary
    );
}

#[test]
fn gpg_signatures_verify_with_the_subkey_only() {
    let key = read_certificate(GPG_KEY.as_bytes()).unwrap();
    let subkey = &key.signing_keys[0];
    for bytes in [GPG_SIG, GPG_SIG_ARMORED, GPG_SIG_SHA512] {
        let signature = signature(bytes);
        assert!(signature.names(subkey));
        assert_eq!(signature.verify(subkey, SUMS), Ok(()));
        assert_eq!(
            signature.verify(&key.primary, SUMS),
            Err(PgpError::BadSignature)
        );
    }
    // An armored upload stores as the binary packet inside it.
    let (armored, binary) = read_detached_signature(GPG_SIG_ARMORED).unwrap();
    assert_eq!(binary[0], 0x89, "gpg's old-format signature packet header");
    assert_eq!(read_detached_signature(&binary).unwrap().0, armored);
    assert_eq!(signature(GPG_SIG_SHA512).hash(), Ok(HashAlgorithm::Sha512));
    let sha1 = signature(GPG_SIG_SHA1);
    assert_eq!(
        sha1.verify(subkey, SUMS).unwrap_err().to_string(),
        "a signature is made with SHA-1 (hash algorithm 2); SHA-256, SHA-384 and SHA-512 are taken (gpg --digest-algo SHA256)"
    );
    assert_eq!(signature(GPG_SIG_TEXT).sig_type, sig_type::TEXT);
}

#[test]
fn tampered_data_signature_or_key_fail() {
    let key = read_certificate(GPG_KEY.as_bytes()).unwrap();
    let subkey = &key.signing_keys[0];
    let mut data = SUMS.to_vec();
    data[0] ^= 1;
    assert_eq!(
        signature(GPG_SIG).verify(subkey, &data),
        Err(PgpError::BadSignature)
    );
    // Every byte of the signature packet after its header matters (the unhashed issuer
    // aside, which only names the key).
    let unhashed_issuer = GPG_SIG.len() - 2 - 256 - 2 - 10..GPG_SIG.len() - 2 - 256 - 2;
    for i in 3..GPG_SIG.len() {
        if unhashed_issuer.contains(&i) {
            continue;
        }
        let mut bytes = GPG_SIG.to_vec();
        bytes[i] ^= 0x40;
        if let Ok((s, _)) = read_detached_signature(&bytes) {
            assert!(
                s.verify(subkey, SUMS).is_err(),
                "byte {i} changed and still verifies"
            );
        }
    }
    let other = read_certificate(
        TestKey::new(RsaKey::b(), "B <b@example.com>")
            .armored_public()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        signature(GPG_SIG).verify(&other.primary, SUMS),
        Err(PgpError::BadSignature)
    );
    assert!(!signature(GPG_SIG).names(&other.primary));
}

#[test]
fn builder_keys_sign_with_primary_or_cross_signed_subkey() {
    let primary_only = TestKey::new(RsaKey::a(), "A <a@example.com>");
    let key = read_certificate(&primary_only.public_packets()).unwrap();
    assert_eq!(key.signing_keys, std::slice::from_ref(&key.primary));
    let made = signature(&primary_only.sign(SUMS));
    assert_eq!(made.verify(&key.primary, SUMS), Ok(()));

    let with_subkey =
        TestKey::new(RsaKey::a(), "A <a@example.com>").with_signing_subkey(RsaKey::c());
    let key = read_certificate(&with_subkey.public_packets()).unwrap();
    assert_eq!(key.signing_keys.len(), 1);
    assert_eq!(key.signing_keys[0].fingerprint, RsaKey::c().fingerprint());
    let made = signature(&with_subkey.sign(SUMS));
    assert!(made.names(&key.signing_keys[0]));
    assert_eq!(made.verify(&key.signing_keys[0], SUMS), Ok(()));
    for hash_id in [9, 10] {
        let spec = SignatureSpec {
            hash_id,
            ..SignatureSpec::by(with_subkey.signer(), 0)
        };
        assert_eq!(
            signature(&with_subkey.sign_as(spec, SUMS)).verify(&key.signing_keys[0], SUMS),
            Ok(())
        );
    }

    // Without the subkey's signature back over the primary key, anyone could claim another's
    // signing key as their subkey.
    let unbacked = TestKey {
        cross_signed: false,
        ..TestKey::new(RsaKey::a(), "A <a@example.com>").with_signing_subkey(RsaKey::c())
    };
    let error = read_certificate(&unbacked.public_packets()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("has no primary-key binding (cross-signature)"),
        "{error}"
    );
}

/// `key`'s packets with `extra` inserted after the primary key packet.
fn after_primary(key: &TestKey, extra: &[u8]) -> Vec<u8> {
    let all = key.public_packets();
    let split = packet(6, key.primary.body()).len();
    [&all[..split], extra, &all[split..]].concat()
}

#[test]
fn self_signatures_are_checked_and_revoked_keys_refused() {
    let key = TestKey::new(RsaKey::a(), "A <a@example.com>");
    let mut packets = key.public_packets();
    let user_id = packets
        .windows(17)
        .position(|w| w == b"A <a@example.com>")
        .unwrap();
    packets[user_id] = b'B';
    let error = read_certificate(&packets).unwrap_err();
    assert!(matches!(error, PgpError::SelfSignature(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("\"B <a@example.com>\" does not verify"),
        "{error}"
    );

    let revocation = SignatureSpec::by(&key.primary, sig_type::KEY_REVOCATION)
        .sign(&key.primary, &key.primary.hashed_form());
    let revoked = after_primary(&key, &packet(2, &revocation));
    assert_eq!(read_certificate(&revoked), Err(PgpError::Revoked));

    let no_user_id = packet(6, key.primary.body());
    assert_eq!(
        read_certificate(&no_user_id).unwrap_err().to_string(),
        "the key has no user ID self-signed by its primary key"
    );
    let two_keys = [key.public_packets(), key.public_packets()].concat();
    assert!(read_certificate(&two_keys)
        .unwrap_err()
        .to_string()
        .contains("more than one key"));
}

#[test]
fn signatures_need_an_issuer_a_creation_time_and_no_unknown_critical_subpacket() {
    let key = TestKey::new(RsaKey::a(), "A <a@example.com>");
    let cert = read_certificate(&key.public_packets()).unwrap();
    let unnamed = SignatureSpec {
        unhashed: Vec::new(),
        ..SignatureSpec::by(&key.primary, 0)
    };
    assert_eq!(signature(&key.sign_as(unnamed, SUMS)).issuer_key_id, None);
    let undated = SignatureSpec {
        hashed: Vec::new(),
        ..SignatureSpec::by(&key.primary, 0)
    };
    assert_eq!(
        signature(&key.sign_as(undated, SUMS)).verify(&cert.primary, SUMS),
        Err(PgpError::Malformed(
            "a signature has no creation time".into()
        ))
    );
    let critical = SignatureSpec::by(&key.primary, 0).hashed(subpacket(0x80 | 20, b"x"));
    assert_eq!(
        read_detached_signature(&key.sign_as(critical, SUMS))
            .unwrap_err()
            .to_string(),
        "a signature has a critical subpacket of type 20, which Terraform's reader does not know"
    );
}

#[test]
fn armor_checksum_and_structure_are_checked() {
    let armored = String::from_utf8(GPG_SIG_ARMORED.to_vec()).unwrap();
    let crc_line = armored.lines().find(|l| l.starts_with('=')).unwrap();
    let mut bad_crc = crc_line.to_owned();
    bad_crc.replace_range(1..2, if &crc_line[1..2] == "A" { "B" } else { "A" });
    let corrupted = armored.replace(crc_line, &bad_crc);
    assert!(dearmor(corrupted.as_bytes(), ArmorKind::Signature)
        .unwrap_err()
        .to_string()
        .contains("CRC-24 checksum does not match"));
    // Without the checksum line the body is taken as it is.
    let unchecked = armored.replace(&format!("{crc_line}\n"), "");
    assert_eq!(
        dearmor(unchecked.as_bytes(), ArmorKind::Signature).unwrap(),
        dearmor(GPG_SIG_ARMORED, ArmorKind::Signature).unwrap()
    );
    let wrong_kind = dearmor(GPG_KEY.as_bytes(), ArmorKind::Signature).unwrap_err();
    assert_eq!(
        wrong_kind.to_string(),
        "the armor does not start with -----BEGIN PGP SIGNATURE-----"
    );
    let cut = &armored[..armored.len() - 20];
    assert!(dearmor(cut.as_bytes(), ArmorKind::Signature).is_err());
    let twice = format!("{armored}{armored}");
    assert!(dearmor(twice.as_bytes(), ArmorKind::Signature).is_err());
}

#[test]
fn truncated_and_garbage_input_is_an_error_not_a_panic() {
    let key = dearmor(GPG_KEY.as_bytes(), ArmorKind::PublicKey).unwrap();
    for end in 0..key.len() {
        let read = read_certificate(&key[..end]);
        // Cut at 902, the key is whole without its subkey (and can sign nothing).
        if end == 902 {
            assert_eq!(read.unwrap().signing_keys, []);
        } else {
            assert!(read.is_err(), "{end}");
        }
    }
    for end in 0..GPG_SIG.len() {
        assert!(read_detached_signature(&GPG_SIG[..end]).is_err(), "{end}");
    }
    let mut state: u32 = 1;
    for length in 0..512 {
        let garbage: Vec<u8> = (0..length)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        let _ = read_certificate(&garbage);
        let _ = read_detached_signature(&garbage);
        // Valid headers around garbage bodies reach the packet parsers.
        let _ = read_certificate(&packet(6, &garbage));
        let _ = read_detached_signature(&packet(2, &garbage));
    }
    let old_format_indeterminate = [0x8B, 0x04];
    assert_eq!(
        read_detached_signature(&old_format_indeterminate)
            .unwrap_err()
            .to_string(),
        "a packet has an indeterminate length"
    );
}
