//! Terraform's `h1:` package hash: the "dirhash" of Go's module tooling
//! (`golang.org/x/mod/sumdb/dirhash`, `Hash1`), taken over the files of a provider zip
//! (`dirhash.HashZip`). Terraform records it in `.terraform.lock.hcl` and checks an installed
//! package against it, so a mirror that names a package's `h1:` must compute it exactly:
//!
//! 1. for every file in the zip, a line `"{sha256 hex}  {name}\n"` (as `sha256sum` writes);
//! 2. the lines sorted by file name (Go's `sort.Strings`: bytewise);
//! 3. `h1:` + base64 (standard, padded) of the SHA-256 of their concatenation.
//!
//! Names with a newline are refused (Go refuses them: they would forge a line).

use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};

#[derive(Debug, thiserror::Error)]
pub enum DirhashError {
    #[error("the package is not a readable zip: {0}")]
    Zip(String),
    #[error("the package holds a file name with a newline, which h1 hashes cannot name")]
    NewlineInName,
}

/// The `h1:` hash of the zip read from `input`, as Terraform computes it.
pub fn zip_h1<R: Read + Seek>(input: R) -> Result<String, DirhashError> {
    let mut archive = zip::ZipArchive::new(input).map_err(|e| DirhashError::Zip(e.to_string()))?;
    let mut lines: Vec<(String, String)> = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| DirhashError::Zip(e.to_string()))?;
        let name = entry.name().to_owned();
        if name.contains('\n') {
            return Err(DirhashError::NewlineInName);
        }
        let mut hasher = Sha256::new();
        std::io::copy(&mut entry, &mut hasher).map_err(|e| DirhashError::Zip(e.to_string()))?;
        lines.push((name, hex::encode(hasher.finalize())));
    }
    lines.sort();
    let mut summary = Sha256::new();
    for (name, sha256) in &lines {
        summary.update(format!("{sha256}  {name}\n").as_bytes());
    }
    Ok(format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary.finalize())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::package::tests::zip_of;

    /// A package and the `h1:` that Terraform v1.0.3 itself wrote for it in
    /// `.terraform.lock.hcl` (`terraform init` from a `filesystem_mirror` holding the same
    /// file, zipped by Python's zipfile: the hash is over names and contents, not zip bytes;
    /// 2026-11-30).
    #[test]
    fn matches_the_hash_terraform_recorded() {
        let zip = zip_of(&[(
            "terraform-provider-dns_v1.2.0",
            0o755,
            b"#!/bin/sh\necho dns 1.2.0 linux_amd64\n",
        )]);
        assert_eq!(zip_h1(std::io::Cursor::new(zip)).unwrap(), KNOWN_H1);
    }

    const KNOWN_H1: &str = "h1:IQ3aolinGFe9gRZZnZMOClrlH84d2wVs4iws+KGR5Sg=";

    #[test]
    fn the_hash_is_over_sorted_names_and_contents_not_zip_bytes() {
        let a = zip_of(&[("b", 0o644, b"2"), ("a", 0o755, b"1")]);
        let b = zip_of(&[("a", 0o600, b"1"), ("b", 0o644, b"2")]);
        assert_ne!(a, b);
        let h1 = zip_h1(std::io::Cursor::new(a)).unwrap();
        assert_eq!(h1, zip_h1(std::io::Cursor::new(b)).unwrap());
        // By hand: sha256("1") and sha256("2"), in sha256sum's format, sorted by name.
        let lines = format!(
            "{}  a\n{}  b\n",
            hex::encode(Sha256::digest(b"1")),
            hex::encode(Sha256::digest(b"2"))
        );
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(lines));
        assert_eq!(h1, format!("h1:{expected}"));
        let changed = zip_of(&[("a", 0o755, b"1"), ("b", 0o644, b"3")]);
        assert_ne!(h1, zip_h1(std::io::Cursor::new(changed)).unwrap());
    }

    #[test]
    fn a_name_with_a_newline_is_refused() {
        let zip = zip_of(&[("a\n0000  b", 0o644, b"x")]);
        assert!(matches!(
            zip_h1(std::io::Cursor::new(zip)),
            Err(DirhashError::NewlineInName)
        ));
    }
}
