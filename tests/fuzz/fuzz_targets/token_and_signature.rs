//! The bearer-token check and the signed-archive-URL check on arbitrary header values, paths
//! and queries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tfreg_edge::{bearer_token, ArchiveSigner, SignatureError, MAX_TOKEN_LEN};

const KEY: &[u8] = b"fuzzing signing key, not a secret";

fuzz_target!(|input: (&str, &str, &str, u64, u64)| {
    let (authorization, path, query, now, expires) = input;
    if let Some(token) = bearer_token(authorization) {
        assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
        assert!(token.bytes().all(|b| b.is_ascii_graphic()), "{token:?}");
        assert!(authorization.contains(token));
    }

    let signer = ArchiveSigner::new(KEY);
    // Without the key, no query authorises anything: a forged signature is refused whatever
    // the path, clock and other parameters.
    let forged = signer.verify(path, query, now);
    assert!(
        forged.is_err(),
        "{path:?} ?{query} verified without the key"
    );
    // With it, a signature holds for its path until it expires, other parameters (go-getter's
    // checksum= and archive=, appended after signing) notwithstanding, and for no other path.
    let signed = signer.sign(path, expires);
    let extra = query.replace(['&', '='], "_");
    for query in [
        signed.clone(),
        format!("{signed}&{extra}"),
        format!("{extra}&{signed}"),
    ] {
        let verdict = signer.verify(path, &query, now);
        if now < expires {
            assert_eq!(verdict, Ok(()), "{path:?} ?{query} at {now}");
        } else {
            assert_eq!(verdict, Err(SignatureError::Expired));
        }
        let other = format!("{path}x");
        assert_eq!(
            signer.verify(&other, &query, now),
            Err(SignatureError::Mismatch)
        );
    }
});
