//! Module addresses, versions and archive keys from arbitrary text: the input is split on
//! newlines into a namespace, name, system and two versions, and the whole input is also read
//! as an archive key (a URL path beneath /archives/).
#![no_main]
use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use tfreg_origin::names::{ArchiveKey, ModuleAddress, ModuleVersion};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // An archive key: accepted only in the canonical spelling, which it gives back.
    if let Some(key) = ArchiveKey::parse(text) {
        assert_eq!(
            key.as_path(),
            text,
            "an archive key is its own canonical path"
        );
        assert!(!text.contains(".."), "archive key with `..`: {text:?}");
    }
    let mut parts = text.split('\n');
    let (ns, name, system) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Ok(address) = ModuleAddress::new(ns, name, system) {
        assert_eq!(address.to_string(), format!("{ns}/{name}/{system}"));
        for segment in [ns, name, system] {
            assert!(!segment.is_empty() && segment.len() <= 64 && !segment.contains(['/', '.']));
        }
    }
    let a = ModuleVersion::parse(parts.next().unwrap_or(""));
    let b = ModuleVersion::parse(parts.next().unwrap_or(""));
    for version in [&a, &b].into_iter().flatten() {
        let shown = version.to_string();
        let again = ModuleVersion::parse(&shown).expect("a version's own spelling parses");
        assert_eq!(&again, version);
        assert_eq!(again.cmp(version), Ordering::Equal);
    }
    if let (Ok(a), Ok(b)) = (&a, &b) {
        // A total order: antisymmetric, and equal only when equal.
        assert_eq!(a.cmp(b), b.cmp(a).reverse());
        assert_eq!(a.cmp(b) == Ordering::Equal, a == b);
    }
});
