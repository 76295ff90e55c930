use sha2::{Digest, Sha256};
use std::fmt;

/// Longest bearer token accepted. Ours are far shorter; anything longer is not one of ours and
/// is refused before it is hashed.
pub const MAX_TOKEN_LEN: usize = 256;

/// SHA-256 of a token value, in lowercase hex. Tokens are stored and cached only under this
/// hash; the value itself is shown once, when the token is created, and never kept.
///
/// A fast hash is enough: token values carry 256 bits of randomness, so there is nothing to
/// brute-force that a slow password hash would protect.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(String);

impl TokenHash {
    /// Wraps a stored hash. Returns `None` unless it is 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| TokenHash(hex.to_owned()))
    }

    pub fn as_hex(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison, for checking a stored hash against a computed one.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

// Deliberately short: a hash is not a secret, but full hashes in logs invite copy-paste into
// places they should not go.
impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.0[..12])
    }
}

pub fn hash_token(value: &str) -> TokenHash {
    TokenHash(hex::encode(Sha256::digest(value.as_bytes())))
}

/// The token from an `Authorization: Bearer <token>` header value. The scheme is matched
/// case-insensitively, as RFC 9110 requires.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    let plausible = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic());
    plausible.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
    }

    #[test]
    fn other_schemes_and_junk_are_not_tokens() {
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(
            bearer_token(&format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1))),
            None
        );
        assert_eq!(bearer_token("Bearer a\u{7f}b"), None);
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        let hash = hash_token("abc");
        assert_eq!(
            hash.as_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenHash::from_hex(hash.as_hex()), Some(hash.clone()));
        assert!(hash.ct_eq(&hash_token("abc")));
        assert!(!hash.ct_eq(&hash_token("abd")));
        assert_eq!(TokenHash::from_hex("ABC"), None);
    }
}
