use super::*;

/// A P-256 test key published with AWS's own Rust signer (smithy-lang/smithy-rs,
/// aws/rust-runtime/aws-sdk-cloudfront-url-signer/src/key.rs): public test data, no secret.
/// (That crate's ECDSA vector in tests/test-cases.json was signed with another key file, not
/// published with it, so its signature cannot be checked here; OpenSSL's ECDSA-with-SHA1 is
/// the reference below instead.)
const AWS_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4//aTM1/HqiVWagy
01cAx3EaegJ0Y5KLRoTtub8T8EWhRANCAARV/wa477wYpyWB5LCrCdS5M9bEAvD+
VORtjoydSpheKlsa+gE4PcFG88G2gE1Lilb8f6wEq/Lz+5kFa2S8gZmb
-----END PRIVATE KEY-----";
const AWS_VECTOR_RESOURCE: &str = "https://d111111abcdef8.cloudfront.net/video.mp4";
const AWS_VECTOR_EXPIRES: u64 = 1_767_290_400;

const BASE: &str = "https://registry.example.com/archives/acme/vpc/aws/1.2.0/module.tar.gz";

fn signer() -> UrlSigner {
    UrlSigner::from_pkcs8_pem(AWS_TEST_KEY, "K2ECDSATEST").unwrap()
}

#[test]
fn the_canned_policy_is_awss_bytes() {
    // The vector's policyJson, byte for byte.
    assert_eq!(
        canned_policy(
            "https://d111111abcdef8.cloudfront.net/image.jpg",
            1_767_290_400
        ),
        r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}"#
    );
}

/// The signature is standard ECDSA with SHA-1 over the policy, DER: what OpenSSL's
/// `dgst -sha1 -sign` makes and `-verify` checks (and what CloudFront checks). Both ways.
#[test]
fn openssl_agrees_with_the_signature_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let signer = signer();
    std::fs::write(path("key.pem"), AWS_TEST_KEY).unwrap();
    std::fs::write(path("pub.pem"), signer.public_key_pem()).unwrap();
    std::fs::write(
        path("policy"),
        canned_policy(AWS_VECTOR_RESOURCE, AWS_VECTOR_EXPIRES),
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("running openssl")
    };
    let os = |s: &str| std::ffi::OsString::from(s);

    // Ours, checked by OpenSSL.
    let query = signer.sign(AWS_VECTOR_RESOURCE, AWS_VECTOR_EXPIRES);
    let signature = query.split_once("Signature=").unwrap().1;
    std::fs::write(path("ours.der"), decode_signature(signature).unwrap()).unwrap();
    let verified = openssl(&[
        &os("dgst"),
        &os("-sha1"),
        &os("-verify"),
        path("pub.pem").as_os_str(),
        &os("-signature"),
        path("ours.der").as_os_str(),
        path("policy").as_os_str(),
    ]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    // OpenSSL's, checked by ours.
    let signed = openssl(&[
        &os("dgst"),
        &os("-sha1"),
        &os("-sign"),
        path("key.pem").as_os_str(),
        &os("-out"),
        path("theirs.der").as_os_str(),
        path("policy").as_os_str(),
    ]);
    assert!(signed.status.success());
    let theirs = encode_signature(&std::fs::read(path("theirs.der")).unwrap());
    let query = format!("Expires={AWS_VECTOR_EXPIRES}&Key-Pair-Id=K2ECDSATEST&Signature={theirs}");
    assert_eq!(
        signer
            .verifier()
            .verify(AWS_VECTOR_RESOURCE, &query, AWS_VECTOR_EXPIRES - 1),
        Ok(())
    );
    // And a SHA-256 signature (CloudFront's opt-in `Hash-Algorithm=SHA256`) is not ours.
    let sha256 = openssl(&[
        &os("dgst"),
        &os("-sha256"),
        &os("-sign"),
        path("key.pem").as_os_str(),
        &os("-out"),
        path("sha256.der").as_os_str(),
        path("policy").as_os_str(),
    ]);
    assert!(sha256.status.success());
    let other = encode_signature(&std::fs::read(path("sha256.der")).unwrap());
    let query = format!("Expires={AWS_VECTOR_EXPIRES}&Key-Pair-Id=K2ECDSATEST&Signature={other}");
    assert_eq!(
        signer.verifier().verify(AWS_VECTOR_RESOURCE, &query, 1),
        Err(SignedUrlError::Mismatch)
    );
}

#[test]
fn parameters_come_in_go_getters_sorted_order_with_values_it_leaves_alone() {
    let query = signer().sign(BASE, 1_000);
    let names: Vec<&str> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap().0)
        .collect();
    assert_eq!(names, ["Expires", "Key-Pair-Id", "Signature"]);
    assert!(query.starts_with("Expires=1000&Key-Pair-Id=K2ECDSATEST&Signature="));
    // Go's QueryEscape leaves these unchanged, so the re-encoded query is byte-identical.
    assert!(query
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~=&".contains(&b)));
}

#[test]
fn a_signed_url_verifies_until_it_expires() {
    let signer = signer();
    let query = signer.sign(BASE, 1_000);
    let verifier = signer.verifier();
    assert_eq!(verifier.verify(BASE, &query, 999), Ok(()));
    assert_eq!(
        verifier.verify(BASE, &query, 1_000),
        Err(SignedUrlError::Expired)
    );
}

#[test]
fn the_signing_parameters_may_come_in_any_order() {
    let signer = signer();
    let query = signer.sign(BASE, 1_000);
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.reverse();
    assert_eq!(signer.verifier().verify(BASE, &pairs.join("&"), 1), Ok(()));
}

#[test]
fn any_other_parameter_is_part_of_the_resource_as_cloudfront_has_it() {
    let signer = signer();
    let verifier = signer.verifier();
    let query = signer.sign(BASE, 1_000);
    // go-getter takes `checksum` and `archive` out; a client that leaves them in asks for
    // another resource than the one signed, and CloudFront refuses it.
    for extra in ["checksum=sha256:00", "archive=tar.gz", "x=1"] {
        assert_eq!(
            verifier.verify(BASE, &format!("{query}&{extra}"), 1),
            Err(SignedUrlError::Mismatch),
            "{extra}"
        );
    }
    // A URL signed with its own parameter verifies with it.
    let with_own = format!("{BASE}?size=large");
    let signed = signer.sign(&with_own, 1_000);
    assert_eq!(
        verifier.verify(BASE, &format!("size=large&{signed}"), 1),
        Ok(())
    );
}

#[test]
fn tampering_is_detected() {
    let signer = signer();
    let verifier = signer.verifier();
    let query = signer.sign(BASE, 1_000);
    let other_path = BASE.replace("1.2.0", "1.3.0");
    assert_eq!(
        verifier.verify(&other_path, &query, 1),
        Err(SignedUrlError::Mismatch)
    );
    let other_host = BASE.replace("registry.example.com", "evil.example.com");
    assert_eq!(
        verifier.verify(&other_host, &query, 1),
        Err(SignedUrlError::Mismatch)
    );
    let later = query.replace("Expires=1000", "Expires=9999");
    assert_eq!(
        verifier.verify(BASE, &later, 1),
        Err(SignedUrlError::Mismatch)
    );
    let other_key = UrlSigner::generate("K2ECDSATEST").verifier();
    assert_eq!(
        other_key.verify(BASE, &query, 1),
        Err(SignedUrlError::Mismatch)
    );
    let other_id = UrlSigner::generate("KOTHER").verifier();
    assert_eq!(
        other_id.verify(BASE, &query, 1),
        Err(SignedUrlError::UnknownKey)
    );
}

#[test]
fn missing_or_malformed_parameters_are_refused() {
    let verifier = signer().verifier();
    let query = signer().sign(BASE, 1_000);
    assert_eq!(verifier.verify(BASE, "", 1), Err(SignedUrlError::Missing));
    assert_eq!(
        verifier.verify(BASE, "checksum=sha256:00", 1),
        Err(SignedUrlError::Missing)
    );
    let cases = [
        "Expires=1000".to_owned(),
        query.replace("Expires=1000", "Expires=x"),
        query.replace("Expires=1000", "Expires=2147483648"),
        query.replace("Signature=", "Signature=!!"),
        format!("{query}&Expires=1000"),
    ];
    for case in cases {
        assert_eq!(
            verifier.verify(BASE, &case, 1),
            Err(SignedUrlError::Malformed),
            "{case}"
        );
    }
}

#[test]
fn keys_round_trip_and_bad_ones_are_refused_without_their_bytes() {
    let signer = UrlSigner::generate("KLOCAL");
    let pem = signer.private_key_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let again = UrlSigner::from_pkcs8_pem(&pem, "KLOCAL").unwrap();
    assert_eq!(again.public_key_pem(), signer.public_key_pem());
    assert!(signer
        .public_key_pem()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    let error = UrlSigner::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n", "K")
        .unwrap_err()
        .to_string();
    assert!(!error.contains("AAAA"), "{error}");
    assert!(UrlSigner::from_pkcs8_pem(&pem, "bad id").is_err());
    assert!(!format!("{signer:?}").contains(&pem[30..60]));
}
