//! The OpenPGP reader (provider signing keys and detached signatures) on arbitrary bytes, as a
//! key, as a signature checked against a gpg-made key, and through the armor.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tfreg_origin::providers::openpgp::{
    armor, dearmor, read_certificate, read_detached_signature, ArmorKind,
};
use tfreg_origin::providers::signing::{
    binary_signature, parse_public_key, verify_release_signature, ParsedKey,
};

const GPG_KEY: &str = include_str!("../../../origin/src/providers/fixtures/rsa3072-signing-subkey-public.asc");
const SUMS: &[u8] = b"00  terraform-provider-dns_1.0.0_linux_amd64.zip\n";

fuzz_target!(|data: &[u8]| {
    // As a key: what reads re-armors to the same packets and reads again the same.
    if let Ok(key) = read_certificate(data) {
        let armored = armor(&key.binary, ArmorKind::PublicKey);
        assert_eq!(read_certificate(armored.as_bytes()).unwrap(), key);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_public_key(text);
    }
    // As a signature: the stored binary form is the packet that was read.
    if let Ok((signature, binary)) = read_detached_signature(data) {
        assert_eq!(read_detached_signature(&binary).unwrap().0, signature);
        assert_eq!(binary_signature(data).unwrap(), binary);
        static KEYS: OnceLock<[ParsedKey; 1]> = OnceLock::new();
        let keys = KEYS.get_or_init(|| [parse_public_key(GPG_KEY).unwrap()]);
        // Nothing but gpg's own signature of SUMS verifies; the fuzzer cannot forge one.
        if verify_release_signature(SUMS, &binary, keys, "acme").is_ok() {
            let key = read_certificate(GPG_KEY.as_bytes()).unwrap();
            assert!(signature.verify(&key.signing_keys[0], SUMS).is_ok());
        }
    }
    // The armor: anything armors and reads back as itself.
    for kind in [ArmorKind::PublicKey, ArmorKind::Signature] {
        let _ = dearmor(data, kind);
        assert_eq!(dearmor(armor(data, kind).as_bytes(), kind).unwrap(), data);
    }
});
