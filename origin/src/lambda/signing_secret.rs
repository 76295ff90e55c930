//! The origin Lambda's archive URL signing key: a CloudFront key pair's private key, its ID and
//! the registry's address, read once per container (at cold start) from one Secrets Manager
//! secret that the deployment module writes (terraform/secrets.tf).
//!
//! Why the address is in the secret and not in the function's environment: the origin Lambda
//! is the distribution's origin, so its environment cannot name the distribution's domain
//! (Terraform would see a cycle), while a secret version written after the distribution can.
//! And why the origin does not sign for the `Host` it sees: behind CloudFront that is the
//! Function URL's own host, not the viewer's.

use crate::signed_url::{https_origin, UrlSigner};
use serde::Deserialize;

/// The secret's value, JSON.
#[derive(Deserialize)]
struct SigningSecret {
    /// The private key, PKCS#8 PEM (`tls_private_key.private_key_pem_pkcs8`).
    private_key: String,
    /// The ID of the key's `aws_cloudfront_public_key`: the URLs' `Key-Pair-Id`.
    key_pair_id: String,
    /// `https://host` the registry answers at: archive URLs point there and are signed for it.
    base_url: String,
}

/// A signer and the registry's address from the secret's JSON value. Errors never quote it.
pub fn parse(value: &str) -> Result<(UrlSigner, String), String> {
    let secret: SigningSecret = serde_json::from_str(value).map_err(|_| {
        "is not JSON with private_key, key_pair_id and base_url (all text)".to_owned()
    })?;
    let signer = UrlSigner::from_pkcs8_pem(&secret.private_key, &secret.key_pair_id)
        .map_err(|e| e.to_string())?;
    let base_url = secret
        .base_url
        .trim_end_matches('/')
        .strip_prefix("https://")
        .and_then(https_origin)
        .ok_or_else(|| {
            format!(
                "base_url {:?} is not https:// and a host alone",
                secret.base_url
            )
        })?;
    Ok((signer, base_url))
}

/// Reads the secret `secret_id` (name or ARN) with one `GetSecretValue` call
/// ([`super::secrets_manager`]).
pub async fn load(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<(UrlSigner, String), String> {
    let value = super::secrets_manager::get_secret_value(sdk, secret_id)
        .await
        .map_err(|e| format!("reading the URL signing secret {secret_id}: {e}"))?;
    parse(&value).map_err(|why| format!("the URL signing secret {secret_id} {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(base_url: &str) -> String {
        let signer = UrlSigner::generate("K1");
        serde_json::json!({
            "private_key": signer.private_key_pem(),
            "key_pair_id": "K2ABC",
            "base_url": base_url,
        })
        .to_string()
    }

    #[test]
    fn the_secret_gives_a_signer_and_the_registrys_address() {
        let (signer, base) = parse(&value("https://registry.example.com/")).unwrap();
        assert_eq!(signer.key_pair_id(), "K2ABC");
        assert_eq!(base, "https://registry.example.com");
    }

    #[test]
    fn a_bad_secret_is_refused_without_quoting_the_key() {
        for base in [
            "http://registry.example.com",
            "https://a/b",
            "registry.example.com",
        ] {
            assert!(parse(&value(base)).is_err(), "{base}");
        }
        let broken =
            value("https://r.example.com").replace("PRIVATE KEY-----\\n", "PRIVATE KEY-----\\nXX");
        let error = parse(&broken).unwrap_err();
        assert!(!error.contains("XX"), "{error}");
        assert!(parse("{\"private_key\": 1}").is_err());
    }
}
