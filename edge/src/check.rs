use crate::route::{Access, Route};
use crate::token::{bearer_token, hash_token, TokenHash};
use crate::{Identity, Tier};
use lru::LruCache;
use std::num::NonZeroUsize;

/// Settings for [`EdgeCheck`]. At the edge they are baked into the bundle at deploy time
/// (Lambda@Edge has no environment variables); `tfreg serve` builds them from its data dir.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Tokens found in the store kept at once; the least recently used is dropped first.
    /// At most [`EdgeConfig::MAX_CACHE_CAPACITY`].
    pub cache_capacity: NonZeroUsize,
    /// Unknown tokens remembered at once, in a cache of their own: a flood of random tokens
    /// then neither grows memory past this nor evicts a single valid token.
    pub unknown_cache_capacity: NonZeroUsize,
    /// How long a found token is trusted without asking the store again. This is the longest
    /// a revoked token keeps working at the edge.
    pub positive_ttl_secs: u64,
    /// How long "no such token" is remembered. Shorter, so a token used right after it was
    /// created is not locked out for long.
    pub negative_ttl_secs: u64,
}

impl EdgeConfig {
    pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
    /// The most either cache may hold. A viewer-request function has 128 MB; an entry
    /// costs a few hundred bytes (measured in the bundle under Node.js: 1,000,000 entries took
    /// its memory to 156 MiB), so 50,000 stays a small share of it.
    pub const MAX_CACHE_CAPACITY: usize = 50_000;
    pub const DEFAULT_UNKNOWN_CACHE_CAPACITY: usize = 1_000;
    pub const DEFAULT_POSITIVE_TTL_SECS: u64 = 60;
    pub const DEFAULT_NEGATIVE_TTL_SECS: u64 = 10;
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            cache_capacity: NonZeroUsize::new(Self::DEFAULT_CACHE_CAPACITY).expect("non-zero"),
            unknown_cache_capacity: NonZeroUsize::new(Self::DEFAULT_UNKNOWN_CACHE_CAPACITY)
                .expect("non-zero"),
            positive_ttl_secs: Self::DEFAULT_POSITIVE_TTL_SECS,
            negative_ttl_secs: Self::DEFAULT_NEGATIVE_TTL_SECS,
        }
    }
}

/// The parts of a viewer request the check reads.
#[derive(Debug, Clone, Copy)]
pub struct ViewerRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without the `?`.
    pub query: &'a str,
    pub authorization: Option<&'a str>,
}

/// What the token store knows about a token, as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub token_name: String,
    pub tier: Tier,
    /// Seconds since the Unix epoch after which the token is no longer valid.
    pub expires_at: Option<u64>,
    /// Module prefixes the token is limited to; empty: none.
    pub scopes: Vec<String>,
}

/// A refusal: the status code, a stable machine-readable code, and the message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Denial {
    fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Denial {
            status: 401,
            code,
            message: message.into(),
        }
    }

    fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Denial {
            status: 403,
            code,
            message: message.into(),
        }
    }

    /// The registry's error body ([`error_body`](crate::error_body)).
    pub fn body_json(&self) -> String {
        crate::error_body(self.code, &self.message)
    }

    /// The `WWW-Authenticate` challenge a 401 must carry.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        (self.status == 401).then_some("Bearer realm=\"tfreg\"")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pass the request on; `identity` is set when a token was checked.
    Allow {
        identity: Option<Identity>,
    },
    Deny(Denial),
    /// The cache does not know this token: look it up by hash, then call
    /// [`EdgeCheck::complete`] with what the store said.
    Lookup {
        token_hash: TokenHash,
    },
}

#[derive(Debug, Clone)]
struct CachedLookup {
    info: Option<TokenInfo>,
    valid_until: u64,
}

/// Token lookups, found and unknown ones apart. Each LRU grows with use up to its capacity
/// (nothing is allocated for capacity up front) and then drops its least recently used entry.
struct LookupCache {
    found: LruCache<TokenHash, CachedLookup>,
    unknown: LruCache<TokenHash, CachedLookup>,
    found_capacity: usize,
    unknown_capacity: usize,
}

impl LookupCache {
    fn new(config: &EdgeConfig) -> Self {
        LookupCache {
            found: LruCache::unbounded(),
            unknown: LruCache::unbounded(),
            found_capacity: config.cache_capacity.get(),
            unknown_capacity: config.unknown_cache_capacity.get(),
        }
    }

    fn get(&mut self, hash: &TokenHash) -> Option<&CachedLookup> {
        match self.found.get(hash) {
            Some(found) => Some(found),
            None => self.unknown.get(hash),
        }
    }

    fn remove(&mut self, hash: &TokenHash) {
        self.found.pop(hash);
        self.unknown.pop(hash);
    }

    fn put(&mut self, hash: TokenHash, lookup: CachedLookup) {
        let (cache, capacity) = if lookup.info.is_some() {
            self.unknown.pop(&hash);
            (&mut self.found, self.found_capacity)
        } else {
            self.found.pop(&hash);
            (&mut self.unknown, self.unknown_capacity)
        };
        cache.put(hash, lookup);
        while cache.len() > capacity {
            cache.pop_lru();
        }
    }

    fn clear(&mut self) {
        self.found.clear();
        self.unknown.clear();
    }

    fn len(&self) -> usize {
        self.found.len() + self.unknown.len()
    }
}

/// The viewer-request check with its cache of token lookups. One per process (per warm
/// Lambda@Edge container), so the warm path makes no network call.
pub struct EdgeCheck {
    config: EdgeConfig,
    cache: LookupCache,
}

impl EdgeCheck {
    pub fn new(config: EdgeConfig) -> Self {
        let cache = LookupCache::new(&config);
        EdgeCheck { config, cache }
    }

    pub fn config(&self) -> &EdgeConfig {
        &self.config
    }

    /// Decides what to do with `request` at time `now` (seconds since the Unix epoch).
    pub fn check(&mut self, request: &ViewerRequest<'_>, now: u64) -> Decision {
        let route = Route::parse(request.method, request.path);
        let needed = match route.required_access() {
            // The origin checks the signature of a signed-at-origin URL itself.
            Access::Public | Access::SignedAtOrigin => return Decision::Allow { identity: None },
            Access::SignedArchive => return Decision::Deny(archive_not_checked_here()),
            Access::Token(tier) => tier,
        };
        let token = match request.authorization {
            None => {
                return Decision::Deny(Denial::unauthorized(
                    "missing_token",
                    "this needs a bearer token: add a credentials block for this registry",
                ))
            }
            Some(header) => match bearer_token(header) {
                Some(token) => token,
                None => {
                    return Decision::Deny(Denial::unauthorized(
                        "malformed_token",
                        "the Authorization header must be `Bearer <token>`",
                    ))
                }
            },
        };
        let token_hash = hash_token(token);
        match self.cache.get(&token_hash) {
            Some(cached) if cached.valid_until > now => {
                let info = cached.info.clone();
                decide(info.as_ref(), &route, needed, now)
            }
            Some(_) => {
                self.cache.remove(&token_hash);
                Decision::Lookup { token_hash }
            }
            None => Decision::Lookup { token_hash },
        }
    }

    /// Finishes a check that answered [`Decision::Lookup`]: remembers what the store said
    /// about `token_hash` (`None`: no such token) and decides.
    pub fn complete(
        &mut self,
        request: &ViewerRequest<'_>,
        token_hash: &TokenHash,
        found: Option<TokenInfo>,
        now: u64,
    ) -> Decision {
        let valid_until = match &found {
            Some(info) => {
                let until = now.saturating_add(self.config.positive_ttl_secs);
                info.expires_at.map_or(until, |expiry| until.min(expiry))
            }
            None => now.saturating_add(self.config.negative_ttl_secs),
        };
        self.cache.put(
            token_hash.clone(),
            CachedLookup {
                info: found.clone(),
                valid_until,
            },
        );
        let route = Route::parse(request.method, request.path);
        match route.required_access() {
            Access::Token(needed) => decide(found.as_ref(), &route, needed, now),
            // Only token routes ask for a lookup; answer the others as `check` would.
            _ => self.check(request, now),
        }
    }

    /// Drops every cached lookup, so a revocation takes effect at once. Only a process that
    /// sees the revocation can do this (`tfreg serve`); at the edge, revocation waits for
    /// the TTL.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    pub fn cached_lookups(&self) -> usize {
        self.cache.len()
    }
}

/// Archive URLs are CloudFront signed URLs, checked by the trusted key group of the
/// `/archives/*` behaviour, which runs no function. A function that sees one anyway was
/// associated where it should not be: it refuses rather than admit an unchecked URL.
fn archive_not_checked_here() -> Denial {
    Denial::forbidden(
        "archive_not_checked_at_the_edge",
        "archive URLs are checked by CloudFront's trusted key group, not by this function",
    )
}

fn decide(info: Option<&TokenInfo>, route: &Route<'_>, needed: Tier, now: u64) -> Decision {
    let Some(info) = info else {
        return Decision::Deny(Denial::unauthorized(
            "unknown_token",
            "the bearer token is not valid: it is unknown or has been revoked",
        ));
    };
    if info.expires_at.is_some_and(|expiry| now >= expiry) {
        return Decision::Deny(Denial::unauthorized(
            "expired_token",
            format!("token {:?} has expired", info.token_name),
        ));
    }
    if !info.tier.grants(needed) {
        return Decision::Deny(Denial::forbidden(
            "insufficient_tier",
            format!(
                "token {:?} has the {} tier; this needs {}",
                info.token_name, info.tier, needed
            ),
        ));
    }
    if let Err(why) = route.scope_verdict(&info.scopes) {
        return Decision::Deny(Denial::forbidden("out_of_scope", why));
    }
    Decision::Allow {
        identity: Some(Identity {
            token_name: info.token_name.clone(),
            tier: info.tier,
            scopes: info.scopes.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> EdgeCheck {
        EdgeCheck::new(EdgeConfig::default())
    }

    fn get<'a>(path: &'a str, authorization: Option<&'a str>) -> ViewerRequest<'a> {
        ViewerRequest {
            method: "GET",
            path,
            query: "",
            authorization,
        }
    }

    const VERSIONS: &str = "/v1/modules/acme/vpc/aws/versions";

    fn info(tier: Tier, expires_at: Option<u64>) -> TokenInfo {
        TokenInfo {
            token_name: "ci".into(),
            tier,
            expires_at,
            scopes: Vec::new(),
        }
    }

    fn lookup_hash(decision: Decision) -> TokenHash {
        match decision {
            Decision::Lookup { token_hash } => token_hash,
            other => panic!("expected a lookup, got {other:?}"),
        }
    }

    fn denial(decision: Decision) -> Denial {
        match decision {
            Decision::Deny(denial) => denial,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn discovery_needs_no_token() {
        let decision = edge().check(&get("/.well-known/terraform.json", None), 0);
        assert_eq!(decision, Decision::Allow { identity: None });
    }

    #[test]
    fn missing_or_malformed_token_is_401_with_a_challenge() {
        let mut edge = edge();
        let missing = denial(edge.check(&get(VERSIONS, None), 0));
        assert_eq!((missing.status, missing.code), (401, "missing_token"));
        assert_eq!(missing.www_authenticate(), Some("Bearer realm=\"tfreg\""));
        let malformed = denial(edge.check(&get(VERSIONS, Some("Basic abc")), 0));
        assert_eq!((malformed.status, malformed.code), (401, "malformed_token"));
    }

    #[test]
    fn a_miss_asks_for_the_hash_and_a_hit_does_not() {
        let mut edge = edge();
        let request = get(VERSIONS, Some("Bearer secret"));
        let hash = lookup_hash(edge.check(&request, 0));
        assert_eq!(hash, hash_token("secret"));
        let allowed = edge.complete(&request, &hash, Some(info(Tier::Downloader, None)), 0);
        assert!(
            matches!(allowed, Decision::Allow { identity: Some(ref i) } if i.token_name == "ci")
        );
        assert_eq!(edge.check(&request, 59), allowed);
        // After the TTL the store is asked again.
        lookup_hash(edge.check(&request, 60));
    }

    #[test]
    fn unknown_tokens_are_401_and_remembered_briefly() {
        let mut edge = edge();
        let request = get(VERSIONS, Some("Bearer nope"));
        let hash = lookup_hash(edge.check(&request, 0));
        let denied = denial(edge.complete(&request, &hash, None, 0));
        assert_eq!((denied.status, denied.code), (401, "unknown_token"));
        assert_eq!(denial(edge.check(&request, 9)), denied);
        lookup_hash(edge.check(&request, 10));
    }

    #[test]
    fn a_token_without_the_tier_is_403() {
        let mut edge = edge();
        let request = ViewerRequest {
            method: "PUT",
            path: "/v1/modules/acme/vpc/aws/1.0.0",
            query: "",
            authorization: Some("Bearer dl"),
        };
        let hash = lookup_hash(edge.check(&request, 0));
        let denied = denial(edge.complete(&request, &hash, Some(info(Tier::Downloader, None)), 0));
        assert_eq!(denied.status, 403);
        assert_eq!(
            denied.message,
            "token \"ci\" has the downloader tier; this needs uploader"
        );
    }

    #[test]
    fn expired_tokens_are_401_even_when_cached() {
        let mut edge = edge();
        let request = get(VERSIONS, Some("Bearer t"));
        let hash = lookup_hash(edge.check(&request, 0));
        assert!(matches!(
            edge.complete(&request, &hash, Some(info(Tier::Master, Some(30))), 0),
            Decision::Allow { .. }
        ));
        // The cache entry lives no longer than the token.
        lookup_hash(edge.check(&request, 30));
        let denied = denial(edge.complete(&request, &hash, Some(info(Tier::Master, Some(30))), 30));
        assert_eq!(denied.code, "expired_token");
    }

    #[test]
    fn clearing_the_cache_forces_a_new_lookup() {
        let mut edge = edge();
        let request = get(VERSIONS, Some("Bearer t"));
        let hash = lookup_hash(edge.check(&request, 0));
        edge.complete(&request, &hash, Some(info(Tier::Master, None)), 0);
        assert_eq!(edge.cached_lookups(), 1);
        edge.clear_cache();
        lookup_hash(edge.check(&request, 1));
    }

    #[test]
    fn the_cache_is_bounded() {
        let config = EdgeConfig {
            cache_capacity: NonZeroUsize::new(2).unwrap(),
            unknown_cache_capacity: NonZeroUsize::new(2).unwrap(),
            ..EdgeConfig::default()
        };
        let mut edge = EdgeCheck::new(config);
        for token in ["a", "b", "c"] {
            let header = format!("Bearer {token}");
            let request = get(VERSIONS, Some(&header));
            let hash = lookup_hash(edge.check(&request, 0));
            edge.complete(&request, &hash, None, 0);
        }
        assert_eq!(edge.cached_lookups(), 2);
    }

    #[test]
    fn a_flood_of_unknown_tokens_evicts_no_valid_token() {
        let config = EdgeConfig {
            cache_capacity: NonZeroUsize::new(10).unwrap(),
            unknown_cache_capacity: NonZeroUsize::new(5).unwrap(),
            ..EdgeConfig::default()
        };
        let mut edge = EdgeCheck::new(config);
        let valid = get(VERSIONS, Some("Bearer valid"));
        let hash = lookup_hash(edge.check(&valid, 0));
        edge.complete(&valid, &hash, Some(info(Tier::Downloader, None)), 0);
        for n in 0..1_000 {
            let header = format!("Bearer random-{n}");
            let request = get(VERSIONS, Some(&header));
            let hash = lookup_hash(edge.check(&request, 0));
            edge.complete(&request, &hash, None, 0);
        }
        // The unknown ones stay within their own small cache...
        assert_eq!(edge.cached_lookups(), 1 + 5);
        // ...and the valid token is still answered without a lookup.
        assert!(matches!(edge.check(&valid, 1), Decision::Allow { .. }));
    }

    #[test]
    fn a_token_found_after_it_was_unknown_moves_to_the_found_cache() {
        let mut edge = edge();
        let request = get(VERSIONS, Some("Bearer late"));
        let hash = lookup_hash(edge.check(&request, 0));
        edge.complete(&request, &hash, None, 0);
        assert_eq!(denial(edge.check(&request, 1)).code, "unknown_token");
        // After the negative TTL it is asked again, and now it exists.
        let hash = lookup_hash(edge.check(&request, 20));
        edge.complete(&request, &hash, Some(info(Tier::Downloader, None)), 20);
        assert_eq!(edge.cached_lookups(), 1);
        assert!(matches!(edge.check(&request, 21), Decision::Allow { .. }));
    }

    #[test]
    fn archives_are_not_admitted_here_whatever_they_carry() {
        let mut edge = edge();
        let path = "/archives/acme/vpc/aws/1.0.0/module.tar.gz";
        let signed = ViewerRequest {
            method: "GET",
            path,
            query: "Expires=100&Key-Pair-Id=K1&Signature=abc",
            authorization: None,
        };
        for request in [signed, get(path, Some("Bearer t")), get(path, None)] {
            let refused = denial(edge.check(&request, 0));
            assert_eq!(
                (refused.status, refused.code),
                (403, "archive_not_checked_at_the_edge")
            );
        }
    }
}
