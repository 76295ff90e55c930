//! A platform zip: what Terraform unpacks into its provider cache. Terraform runs the first
//! file (in name order) at the top of the package whose name is `terraform-provider-{type}`
//! followed by nothing, `_` or `.`; anything else in the package is left alone. So the
//! registry takes a zip only when that choice is unambiguous and the file can run:
//!
//! - exactly one file named `terraform-provider-{type}` or `terraform-provider-{type}_v{version}`
//!   (HashiCorp's convention, with an optional `_x{N}` protocol mark), plus `.exe` on Windows;
//! - no other file whose name starts with `terraform-provider-`;
//! - regular files at the top level only: no directories, links or devices, no `..`, `/`,
//!   backslash, colon or NUL in a name;
//! - on platforms other than Windows, the executable's Unix mode has an execute bit (a zip
//!   made on Windows records none, and the provider would not start);
//! - every entry decompresses to exactly the size and CRC it declares, within the limits.

use super::{Platform, ProviderAddress};
use crate::names::ModuleVersion;
use std::io::{Read, Seek};

/// The most entries a package may hold (the executable and a few documents).
pub const MAX_PACKAGE_ENTRIES: usize = 64;

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("{zip} is not a valid zip archive: {reason}")]
    NotZip { zip: String, reason: String },
    #[error("{zip} holds more than {MAX_PACKAGE_ENTRIES} entries")]
    TooManyEntries { zip: String },
    #[error("{zip}: {entry:?} is not a regular file at the top of the package (directories, links and paths are not taken)")]
    NotTopLevelFile { zip: String, entry: String },
    #[error("{zip} has no provider executable: expected {expected}")]
    NoExecutable { zip: String, expected: String },
    #[error(
        "{zip} has more than one file named like the provider executable: {first:?} and {second:?}"
    )]
    AmbiguousExecutable {
        zip: String,
        first: String,
        second: String,
    },
    #[error("{zip}: {entry:?} starts with terraform-provider- but is not the provider executable ({expected})")]
    StrayProviderFile {
        zip: String,
        entry: String,
        expected: String,
    },
    #[error("{zip}: {entry:?} is not executable (its Unix mode has no execute bit; zip it on Unix with its mode, e.g. chmod +x then zip)")]
    NotExecutable { zip: String, entry: String },
    #[error("{zip} unpacks to more than {limit} bytes")]
    TooLarge { zip: String, limit: u64 },
    #[error("{zip}: {entry:?} does not decompress as declared: {reason}")]
    Corrupt {
        zip: String,
        entry: String,
        reason: String,
    },
}

/// What a valid package holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    /// The provider executable's name.
    pub executable: String,
    /// Every entry's decompressed size, added up.
    pub unpacked_bytes: u64,
}

/// Whether `name` is the provider executable's name for `platform` under HashiCorp's
/// convention.
fn is_executable_name(
    name: &str,
    provider: &ProviderAddress,
    version: &ModuleVersion,
    platform: &Platform,
) -> bool {
    let name = if platform.os == "windows" {
        match name.strip_suffix(".exe") {
            Some(stem) => stem,
            None => return false,
        }
    } else {
        name
    };
    let Some(rest) = name.strip_prefix(&provider.project_name()) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix(&format!("_v{version}")) else {
        return false;
    };
    // `_x5`: the plugin protocol mark HashiCorp's own builds carry.
    rest.is_empty()
        || rest
            .strip_prefix("_x")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn expected_names(
    provider: &ProviderAddress,
    version: &ModuleVersion,
    platform: &Platform,
) -> String {
    let exe = if platform.os == "windows" { ".exe" } else { "" };
    let project = provider.project_name();
    format!("{project}_v{version}{exe} (or {project}{exe})")
}

/// Checks the package `zip_name` read from `input`, built for `platform`, unpacking at most
/// `max_unpacked` bytes.
pub fn validate_package<R: Read + Seek>(
    zip_name: &str,
    input: R,
    provider: &ProviderAddress,
    version: &ModuleVersion,
    platform: &Platform,
    max_unpacked: u64,
) -> Result<PackageSummary, PackageError> {
    let zip = || zip_name.to_owned();
    let mut archive = zip::ZipArchive::new(input).map_err(|e| PackageError::NotZip {
        zip: zip(),
        reason: e.to_string(),
    })?;
    if archive.len() > MAX_PACKAGE_ENTRIES {
        return Err(PackageError::TooManyEntries { zip: zip() });
    }
    let expected = expected_names(provider, version, platform);
    let mut executable: Option<String> = None;
    let mut unpacked: u64 = 0;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(|e| PackageError::NotZip {
            zip: zip(),
            reason: e.to_string(),
        })?;
        let name = String::from_utf8_lossy(file.name_raw()).into_owned();
        let mode = file.unix_mode();
        let regular = matches!(mode.map(|m| m & S_IFMT), None | Some(0) | Some(S_IFREG));
        let plain_name = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\\', ':', '\0']);
        if !regular || !plain_name || file.is_dir() {
            return Err(PackageError::NotTopLevelFile {
                zip: zip(),
                entry: name,
            });
        }
        if is_executable_name(&name, provider, version, platform) {
            if let Some(first) = executable.take() {
                return Err(PackageError::AmbiguousExecutable {
                    zip: zip(),
                    first,
                    second: name,
                });
            }
            if platform.os != "windows" && mode.unwrap_or(0) & 0o111 == 0 {
                return Err(PackageError::NotExecutable {
                    zip: zip(),
                    entry: name,
                });
            }
            executable = Some(name.clone());
        } else if name.starts_with("terraform-provider-") {
            return Err(PackageError::StrayProviderFile {
                zip: zip(),
                entry: name,
                expected,
            });
        }
        // Read it all: the zip crate checks the CRC and the declared size at the end, and
        // the limit counts what decompression produces, not what the archive claims.
        let budget = max_unpacked.saturating_sub(unpacked);
        let read = std::io::copy(&mut (&mut file).take(budget + 1), &mut std::io::sink()).map_err(
            |e| PackageError::Corrupt {
                zip: zip(),
                entry: name.clone(),
                reason: e.to_string(),
            },
        )?;
        if read > budget {
            return Err(PackageError::TooLarge {
                zip: zip(),
                limit: max_unpacked,
            });
        }
        unpacked += read;
    }
    match executable {
        Some(executable) => Ok(PackageSummary {
            executable,
            unpacked_bytes: unpacked,
        }),
        None => Err(PackageError::NoExecutable {
            zip: zip(),
            expected,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    /// A zip of `(name, mode, contents)` entries.
    pub fn zip_of(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, mode, contents) in entries {
            let options = SimpleFileOptions::default().unix_permissions(*mode & 0o777);
            if mode & S_IFMT == 0o120_000 {
                let target = std::str::from_utf8(contents).unwrap();
                writer.add_symlink(*name, target, options).unwrap();
                continue;
            }
            writer.start_file(*name, options).unwrap();
            writer.write_all(contents).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn check(entries: &[(&str, u32, &[u8])], os: &str) -> Result<PackageSummary, String> {
        let provider = ProviderAddress::new("acme", "dns").unwrap();
        let version = ModuleVersion::parse("1.2.0").unwrap();
        let platform = Platform::new(os, "amd64").unwrap();
        validate_package(
            "p.zip",
            Cursor::new(zip_of(entries)),
            &provider,
            &version,
            &platform,
            1024,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn one_executable_named_by_the_convention_is_a_package() {
        for name in [
            "terraform-provider-dns_v1.2.0",
            "terraform-provider-dns_v1.2.0_x5",
            "terraform-provider-dns",
        ] {
            let summary = check(
                &[(name, 0o755, b"#!/bin/sh\n"), ("LICENSE", 0o644, b"MIT")],
                "linux",
            )
            .unwrap();
            assert_eq!(summary.executable, name);
            assert_eq!(summary.unpacked_bytes, 13);
        }
        assert!(check(
            &[("terraform-provider-dns_v1.2.0.exe", 0o644, b"MZ")],
            "windows"
        )
        .is_ok());
    }

    type Entries<'a> = &'a [(&'a str, u32, &'a [u8])];

    #[test]
    fn every_rejection_says_why() {
        let cases: &[(Entries, &str, &str)] = &[
            (&[("LICENSE", 0o644, b"x")], "linux", "p.zip has no provider executable: expected terraform-provider-dns_v1.2.0 (or terraform-provider-dns)"),
            (&[("terraform-provider-dns_v1.3.0", 0o755, b"x")], "linux", "p.zip: \"terraform-provider-dns_v1.3.0\" starts with terraform-provider- but is not the provider executable (terraform-provider-dns_v1.2.0 (or terraform-provider-dns))"),
            (&[("terraform-provider-other_v1.2.0", 0o755, b"x")], "linux", "starts with terraform-provider- but is not"),
            (&[("terraform-provider-dns_v1.2.0", 0o644, b"x")], "linux", "p.zip: \"terraform-provider-dns_v1.2.0\" is not executable"),
            (&[("terraform-provider-dns_v1.2.0", 0o755, b"x"), ("terraform-provider-dns", 0o755, b"x")], "linux", "p.zip has more than one file named like the provider executable"),
            (&[("terraform-provider-dns_v1.2.0", 0o755, b"x"), ("terraform-provider-dns_v1.2.0.sig", 0o644, b"x")], "linux", "p.zip: \"terraform-provider-dns_v1.2.0.sig\" starts with terraform-provider- but is not"),
            (&[("bin/terraform-provider-dns_v1.2.0", 0o755, b"x")], "linux", "p.zip: \"bin/terraform-provider-dns_v1.2.0\" is not a regular file at the top"),
            (&[("terraform-provider-dns_v1.2.0", 0o120_777, b"/bin/sh")], "linux", "is not a regular file at the top"),
            (&[("terraform-provider-dns_v1.2.0", 0o755, b"x")], "windows", "starts with terraform-provider- but is not the provider executable (terraform-provider-dns_v1.2.0.exe (or terraform-provider-dns.exe))"),
            (&[("terraform-provider-dns_v1.2.0", 0o755, &[0u8; 2000])], "linux", "p.zip unpacks to more than 1024 bytes"),
        ];
        for (entries, os, message) in cases {
            let error = check(entries, os).unwrap_err();
            assert!(
                error.starts_with(message) || error.contains(message),
                "{error}"
            );
        }
        let provider = ProviderAddress::new("acme", "dns").unwrap();
        let error = validate_package(
            "p.zip",
            Cursor::new(b"not a zip".to_vec()),
            &provider,
            &ModuleVersion::parse("1.2.0").unwrap(),
            &Platform::new("linux", "amd64").unwrap(),
            1024,
        )
        .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("p.zip is not a valid zip archive"));
    }
}
