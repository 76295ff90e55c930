//! The bearer-token check and the signed-archive-URL check (a CloudFront signed URL, as
//! `tfreg serve` checks it in CloudFront's place) on arbitrary header values, paths and
//! queries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tfreg_edge::{bearer_token, MAX_TOKEN_LEN};
use tfreg_origin::signed_url::{SignedUrlError, UrlSigner, MAX_EXPIRES};

/// A P-256 test key published with AWS's own Rust CloudFront URL signer: public test data.
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4//aTM1/HqiVWagy
01cAx3EaegJ0Y5KLRoTtub8T8EWhRANCAARV/wa477wYpyWB5LCrCdS5M9bEAvD+
VORtjoydSpheKlsa+gE4PcFG88G2gE1Lilb8f6wEq/Lz+5kFa2S8gZmb
-----END PRIVATE KEY-----";

fn signer() -> &'static UrlSigner {
    static SIGNER: OnceLock<UrlSigner> = OnceLock::new();
    SIGNER.get_or_init(|| UrlSigner::from_pkcs8_pem(KEY, "KFUZZ").expect("the test key"))
}

fuzz_target!(|input: (&str, &str, &str, u64, u64)| {
    let (authorization, path, query, now, expires) = input;
    if let Some(token) = bearer_token(authorization) {
        assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
        assert!(token.bytes().all(|b| b.is_ascii_graphic()), "{token:?}");
        assert!(authorization.contains(token));
    }

    let signer = signer();
    let verifier = signer.verifier();
    let base = format!("https://registry.test{path}");
    // Without the key, no query authorises anything: a forged signature is refused whatever
    // the path, clock and other parameters.
    let forged = verifier.verify(&base, query, now);
    assert!(
        forged.is_err(),
        "{base:?} ?{query} verified without the key"
    );
    // With it, a signature holds for its URL until it expires, and for no other URL: another
    // path, or any parameter beside the signing ones (CloudFront keeps those in the resource).
    // A signature and each check are an ECDSA operation (about a millisecond under the
    // sanitizer, against microseconds for the rest): the round trip runs for one input in four,
    // and each runs one of the three tamperings, chosen by the expiry as the signing is.
    if expires % 4 != 0 {
        return;
    }
    let signed = signer.sign(&base, expires);
    let verdict = verifier.verify(&base, &signed, now);
    if now < expires.min(MAX_EXPIRES) {
        assert_eq!(verdict, Ok(()), "{base:?} ?{signed} at {now}");
    } else {
        assert_eq!(verdict, Err(SignedUrlError::Expired));
    }
    let extra = format!("x{}", query.replace(['&', '='], "_"));
    let (tampered_base, tampered_query) = match (expires / 4) % 3 {
        0 => (format!("{base}x"), signed),
        1 => (base, format!("{signed}&{extra}")),
        _ => (base, format!("{extra}&{signed}")),
    };
    assert_eq!(
        verifier.verify(&tampered_base, &tampered_query, now),
        Err(SignedUrlError::Mismatch),
        "{tampered_base:?} ?{tampered_query}"
    );
});
