//! The catalogue in memory: entries in address order, a postings map from words to entries,
//! and the list and search answers, each a slice of a precomputed order (no scan of every
//! module per request, so a page costs about the same at 100 modules as at 10,000).

use super::words::{query_words, Field};
use super::CatalogueEntry;
use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, Range};

/// Which modules a list or a search is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub namespace: Option<String>,
    /// Only with `namespace`.
    pub name: Option<String>,
    /// The Registry API's `provider`.
    pub system: Option<String>,
    /// The caller's token scopes: only modules within one of them (empty: all).
    pub scopes: Vec<String>,
}

impl Filter {
    /// Whether `entry` passes the system and scope filters (the address range is applied
    /// apart).
    fn admits(&self, entry: &CatalogueEntry) -> bool {
        self.system.as_ref().is_none_or(|s| &entry.system == s)
            && tfreg_edge::scope::within(
                &self.scopes,
                &[&entry.namespace, &entry.name, &entry.system],
            )
    }
}

/// One page of an answer: the entries shown, and how many there are in all.
pub struct Page<'a> {
    pub entries: Vec<&'a CatalogueEntry>,
    pub total: usize,
}

impl Page<'_> {
    pub fn empty() -> Self {
        Page {
            entries: Vec::new(),
            total: 0,
        }
    }
}

/// Where an entry's word was found, with the weight a match there scores.
#[derive(Debug, Clone, Copy)]
struct Posting {
    entry: u32,
    weight: u8,
}

/// The catalogue, ready to answer.
#[derive(Debug, Default)]
pub struct CatalogueIndex {
    /// Visible entries, sorted by address.
    entries: Vec<CatalogueEntry>,
    /// Entry positions per system, in address order.
    by_system: HashMap<String, Vec<u32>>,
    /// Every word of every entry, with where it was found.
    postings: BTreeMap<String, Vec<Posting>>,
}

impl CatalogueIndex {
    /// Indexes `entries` (any order; the last of two entries for one address wins).
    pub fn build(mut entries: Vec<CatalogueEntry>) -> Self {
        entries.sort_by(|a, b| a.address_key().cmp(&b.address_key()));
        entries.dedup_by(|later, earlier| {
            let same = later.address_key() == earlier.address_key();
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        let mut by_system: HashMap<String, Vec<u32>> = HashMap::new();
        let mut postings: BTreeMap<String, Vec<Posting>> = BTreeMap::new();
        for (position, entry) in entries.iter().enumerate() {
            let position = position as u32;
            by_system
                .entry(entry.system.clone())
                .or_default()
                .push(position);
            let mut best: HashMap<String, u8> = HashMap::new();
            for (field, word) in entry.words() {
                let weight = field.weight();
                let slot = best.entry(word).or_default();
                *slot = (*slot).max(weight);
            }
            for (word, weight) in best {
                postings.entry(word).or_default().push(Posting {
                    entry: position,
                    weight,
                });
            }
        }
        CatalogueIndex {
            entries,
            by_system,
            postings,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[CatalogueEntry] {
        &self.entries
    }

    /// The entry of one module, if it is shown.
    pub fn get(&self, namespace: &str, name: &str, system: &str) -> Option<&CatalogueEntry> {
        self.entries
            .binary_search_by(|e| e.address_key().cmp(&(namespace, name, system)))
            .ok()
            .map(|position| &self.entries[position])
    }

    /// Entries matching `filter`, in address order, from `offset`, at most `limit`.
    pub fn list(&self, filter: &Filter, offset: usize, limit: usize) -> Page<'_> {
        let range = self.address_range(filter);
        if !filter.scopes.is_empty() {
            // A scoped token's list: the scopes' own ranges of the index, filtered.
            let positions: Vec<usize> = self
                .scope_ranges(&filter.scopes)
                .into_iter()
                .flatten()
                .filter(|p| range.contains(p) && filter.admits(&self.entries[*p]))
                .collect();
            return Page {
                total: positions.len(),
                entries: positions
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .map(|&p| &self.entries[p])
                    .collect(),
            };
        }
        match &filter.system {
            None => Page {
                total: range.len(),
                entries: self.entries[range]
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .collect(),
            },
            Some(system) => {
                let positions = self.by_system.get(system).map_or(&[][..], Vec::as_slice);
                // The system's positions are sorted, so the namespace's are a sub-slice.
                let start = positions.partition_point(|&p| (p as usize) < range.start);
                let end = positions.partition_point(|&p| (p as usize) < range.end);
                let positions = &positions[start..end];
                Page {
                    total: positions.len(),
                    entries: positions
                        .iter()
                        .skip(offset)
                        .take(limit)
                        .map(|&p| &self.entries[p as usize])
                        .collect(),
                }
            }
        }
    }

    /// Entries matching every word of `query` (a word matches the words of an entry it is a
    /// prefix of), best first: an entry named exactly as the query (or one of its words)
    /// first, then by where the words were found (name, then namespace and system, then
    /// description, then README), then by address.
    pub fn search(&self, query: &str, filter: &Filter, offset: usize, limit: usize) -> Page<'_> {
        let words = query_words(query);
        if words.is_empty() {
            return Page {
                entries: Vec::new(),
                total: 0,
            };
        }
        let range = self.address_range(filter);
        // Per entry: the score so far, and how many of the query's words it matched.
        let mut scores: HashMap<u32, (u32, usize)> = HashMap::new();
        for (round, word) in words.iter().enumerate() {
            let mut best: HashMap<u32, u32> = HashMap::new();
            for (found, postings) in self
                .postings
                .range::<str, _>((Bound::Included(word.as_str()), Bound::Unbounded))
            {
                if !found.starts_with(word.as_str()) {
                    break;
                }
                let exact = if found == word { 2 } else { 1 };
                for posting in postings {
                    if round > 0 && !scores.contains_key(&posting.entry) {
                        continue;
                    }
                    let score = u32::from(posting.weight) * exact;
                    let slot = best.entry(posting.entry).or_default();
                    *slot = (*slot).max(score);
                }
            }
            for (entry, score) in best {
                let slot = scores.entry(entry).or_default();
                if slot.1 == round {
                    *slot = (slot.0 + score, round + 1);
                }
            }
        }
        let whole_query = query.trim().to_lowercase();
        let mut ranked: Vec<(u32, u32)> = scores
            .into_iter()
            .filter(|&(position, (_, matched))| {
                matched == words.len() && range.contains(&(position as usize))
            })
            .filter(|&(position, _)| filter.admits(&self.entries[position as usize]))
            .map(|(position, (score, _))| {
                let name = self.entries[position as usize].name.to_lowercase();
                let exact_name = name == whole_query || words.contains(&name);
                (position, score + if exact_name { 1_000 } else { 0 })
            })
            .collect();
        let total = ranked.len();
        // Best first; ties in address order (positions are in address order).
        let order = |a: &(u32, u32), b: &(u32, u32)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
        let wanted = offset.saturating_add(limit).min(total);
        if wanted < total && wanted > 0 {
            ranked.select_nth_unstable_by(wanted - 1, order);
            ranked.truncate(wanted);
        }
        ranked.sort_unstable_by(order);
        Page {
            total,
            entries: ranked
                .iter()
                .skip(offset)
                .take(limit)
                .map(|&(p, _)| &self.entries[p as usize])
                .collect(),
        }
    }

    /// The positions of the entries within `scopes`: one range per scope, in address order,
    /// without overlaps.
    fn scope_ranges(&self, scopes: &[String]) -> Vec<Range<usize>> {
        let mut ranges: Vec<Range<usize>> = scopes
            .iter()
            .map(|scope| {
                let segments: Vec<&str> = scope.split('/').collect();
                fn prefix(entry: &CatalogueEntry, len: usize) -> Vec<&str> {
                    let address = [
                        entry.namespace.as_str(),
                        entry.name.as_str(),
                        entry.system.as_str(),
                    ];
                    address[..len].to_vec()
                }
                let len = segments.len();
                let start = self.entries.partition_point(|e| prefix(e, len) < segments);
                let end = self.entries.partition_point(|e| prefix(e, len) <= segments);
                start..end
            })
            .collect();
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for range in ranges {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        merged
    }

    /// The positions of the entries of the filter's namespace (and name), or all.
    fn address_range(&self, filter: &Filter) -> Range<usize> {
        let Some(namespace) = filter.namespace.as_deref() else {
            return 0..self.entries.len();
        };
        let in_scope = |entry: &CatalogueEntry| match &filter.name {
            Some(name) => (entry.namespace.as_str(), entry.name.as_str()) < (namespace, name),
            None => entry.namespace.as_str() < namespace,
        };
        let start = self.entries.partition_point(in_scope);
        let end = start
            + self.entries[start..].partition_point(|entry| {
                entry.namespace == namespace
                    && filter.name.as_ref().is_none_or(|name| &entry.name == name)
            });
        start..end
    }
}

impl Field {
    /// What a match in this field scores.
    fn weight(self) -> u8 {
        match self {
            Field::Name => 16,
            Field::Namespace | Field::System => 8,
            Field::Description => 4,
            Field::Readme => 1,
        }
    }
}
