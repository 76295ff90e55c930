//! The upstream's version lists, kept for a short time per process: `tfreg serve` would
//! otherwise ask the upstream registry on every versions request of a proxied module, where
//! the AWS deployment has CloudFront keep the answer (`s-maxage=30`,
//! [`crate::registry::CACHEABLE_READ`]). Only answers are kept, never failures; the number of
//! modules kept is bounded.

use crate::names::{ModuleAddress, ModuleVersion};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Modules whose upstream versions are kept at most; a full cache first drops what expired,
/// then the oldest.
pub const MAX_MODULES: usize = 1024;

/// When a list was stored, and the list.
type Entry<V> = (Instant, Arc<Vec<V>>);

/// Lists of `V` per `K`: module versions per module for the proxy; the provider mirror keeps
/// its upstreams' provider versions the same way, and each version's checked `SHA256SUMS`.
pub struct VersionsCache<K = ModuleAddress, V = ModuleVersion> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K: Hash + Eq + Clone, V> VersionsCache<K, V> {
    /// A `ttl` of zero keeps nothing.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        VersionsCache {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, module: &K, now: Instant) -> Option<Arc<Vec<V>>> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(module) {
            Some((stored, versions)) if now.saturating_duration_since(*stored) < self.ttl => {
                Some(versions.clone())
            }
            Some(_) => {
                entries.remove(module);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, module: &K, versions: Arc<Vec<V>>, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(module) {
            let ttl = self.ttl;
            entries.retain(|_, (stored, _)| now.saturating_duration_since(*stored) < ttl);
            if entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (stored, _))| *stored)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(module.clone(), (now, versions));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str) -> ModuleAddress {
        ModuleAddress::new("acme", name, "aws").unwrap()
    }

    fn versions(list: &[&str]) -> Arc<Vec<ModuleVersion>> {
        Arc::new(
            list.iter()
                .map(|v| ModuleVersion::parse(v).unwrap())
                .collect(),
        )
    }

    #[test]
    fn an_answer_is_kept_for_the_ttl_and_not_after() {
        let cache = VersionsCache::new(Duration::from_secs(30), 8);
        let start = Instant::now();
        cache.put(&module("vpc"), versions(&["1.0.0"]), start);
        let kept = cache.get(&module("vpc"), start + Duration::from_secs(29));
        assert_eq!(kept.unwrap().len(), 1);
        assert!(cache
            .get(&module("vpc"), start + Duration::from_secs(30))
            .is_none());
        assert_eq!(cache.len(), 0, "an expired entry is dropped when met");
        assert!(cache.get(&module("other"), start).is_none());
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = VersionsCache::new(Duration::ZERO, 8);
        let now = Instant::now();
        cache.put(&module("vpc"), versions(&["1.0.0"]), now);
        assert!(cache.get(&module("vpc"), now).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_the_oldest() {
        let cache = VersionsCache::new(Duration::from_secs(30), 3);
        let start = Instant::now();
        cache.put(&module("a"), versions(&["1.0.0"]), start);
        cache.put(
            &module("b"),
            versions(&["1.0.0"]),
            start + Duration::from_secs(10),
        );
        cache.put(
            &module("c"),
            versions(&["1.0.0"]),
            start + Duration::from_secs(20),
        );
        // Full, nothing expired: the oldest (a) goes.
        cache.put(
            &module("d"),
            versions(&["1.0.0"]),
            start + Duration::from_secs(25),
        );
        assert_eq!(cache.len(), 3);
        let at = start + Duration::from_secs(26);
        assert!(cache.get(&module("a"), at).is_none());
        assert!(cache.get(&module("b"), at).is_some());
        // b (put at 10 s) and c (20 s) have expired by 51 s: both go for e; d (25 s) stays.
        cache.put(
            &module("e"),
            versions(&["1.0.0"]),
            start + Duration::from_secs(51),
        );
        assert_eq!(cache.len(), 2);
        let at = start + Duration::from_secs(52);
        assert!(cache.get(&module("d"), at).is_some());
        assert!(cache.get(&module("e"), at).is_some());
        // Replacing a kept module never evicts another.
        cache.put(&module("e"), versions(&["2.0.0"]), at);
        assert_eq!(cache.len(), 2);
    }
}
