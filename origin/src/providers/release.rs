//! A release as it is published: one request whose body is a tar (optionally gzipped) of the
//! release's files, named as HashiCorp's release tooling names them
//! ([`ReleaseNames`]): the platform zips, `SHA256SUMS`, `SHA256SUMS.sig` and, optionally,
//! the `_manifest.json` that states the plugin protocols. Everything is checked before
//! anything is stored, in the order Terraform itself checks a download: the signature of
//! `SHA256SUMS` by a key registered for the namespace, then each zip's SHA-256 against its
//! line there; then what Terraform does not check until it runs the provider (the zips'
//! contents).

use super::package::{validate_package, PackageError};
use super::signing::{binary_signature, verify_release_signature, ParsedKey, SigningError};
use super::sums::{Shasums, ShasumsError};
use super::{Platform, ProviderAddress, ReleaseNames};
use crate::names::ModuleVersion;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The most files a release upload may hold.
pub const MAX_RELEASE_FILES: usize = 64;

/// The plugin protocols a release states when it says nothing: protocol 5, what every
/// Terraform from 0.12 on speaks, and what the SDKv2 and the plugin framework's `tf5server`
/// build.
pub const DEFAULT_PROTOCOLS: &[&str] = &["5.0"];

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("the request body is not a tar archive of the release's files: {0}")]
    NotTar(String),
    #[error("the release holds more than {MAX_RELEASE_FILES} files")]
    TooManyFiles,
    #[error("the release's files add up to more than {0} bytes")]
    TooLarge(u64),
    #[error("{0:?} is not a file at the top of the tar: put the release's files side by side (tar -cf release.tar -C dist .)")]
    NotTopLevel(String),
    #[error("{name:?} is not a file of this release; expected {expected}")]
    UnexpectedFile { name: String, expected: String },
    #[error("{0} appears twice in the tar")]
    Duplicate(String),
    #[error("the release has no {0}")]
    Missing(String),
    #[error("the release has no platform zip ({0})")]
    NoPackages(String),
    #[error(transparent)]
    Shasums(#[from] ShasumsError),
    #[error(transparent)]
    Signature(#[from] SigningError),
    #[error("{0} is not listed in SHA256SUMS")]
    NotInShasums(String),
    #[error(
        "{filename} does not match SHA256SUMS: its SHA-256 is {actual}, SHA256SUMS says {listed}"
    )]
    HashMismatch {
        filename: String,
        actual: String,
        listed: String,
    },
    #[error(
        "SHA256SUMS lists {0}, which the release does not include: upload every platform it lists"
    )]
    ListedButMissing(String),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("invalid plugin protocols {0:?}: give MAJOR.MINOR versions such as 5.0 or 6.0")]
    Protocols(String),
    #[error("the manifest is not {{\"version\":1,\"metadata\":{{\"protocol_versions\":[\"5.0\"]}}}}: {0}")]
    Manifest(String),
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ReleaseError {
    /// The error code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            ReleaseError::Signature(_) => "invalid_signature",
            ReleaseError::HashMismatch { .. } => "checksum_mismatch",
            ReleaseError::Package(_) => "invalid_package",
            _ => "invalid_release",
        }
    }
}

/// A checked release, its files in the staging directory it was given.
#[derive(Debug)]
pub struct CheckedRelease {
    /// By platform: filename, SHA-256 and size of its zip.
    pub platforms: BTreeMap<Platform, (String, String, u64)>,
    pub protocols: Vec<String>,
    /// The registered key that signed `SHA256SUMS`.
    pub key_id: String,
    pub shasums_filename: String,
    pub signature_filename: String,
}

/// One file written to staging: its SHA-256 and size.
struct StagedFile {
    sha256: String,
    size: u64,
}

/// Unpacks the tar `body` into `staged` (an empty directory), then checks the release of
/// `provider` `version` against `keys`, the keys registered for its namespace. `protocols` is
/// what the publisher said in the query (`None`: the manifest's, or [`DEFAULT_PROTOCOLS`]).
/// Zips unpack to at most `max_unpacked` bytes each. The tar's files add up to at most the
/// upload limit (`max_release_bytes`): a plain tar is always larger than its files, so only a
/// gzipped bomb reaches it.
#[allow(clippy::too_many_arguments)]
pub fn check_release<R: Read>(
    body: R,
    staged: &Path,
    provider: &ProviderAddress,
    version: &ModuleVersion,
    keys: &[ParsedKey],
    protocols: Option<Vec<String>>,
    max_unpacked: u64,
    max_release_bytes: u64,
) -> Result<CheckedRelease, ReleaseError> {
    let names = ReleaseNames::new(provider, version);
    let files = unpack(body, staged, &names, max_release_bytes)?;
    let shasums_name = names.shasums();
    let signature_name = names.signature();
    let read = |name: &str| -> Result<Vec<u8>, ReleaseError> {
        if !files.contains_key(name) {
            return Err(ReleaseError::Missing(name.to_owned()));
        }
        Ok(std::fs::read(staged.join(name))?)
    };
    let document = read(&shasums_name)?;
    let uploaded_signature = read(&signature_name)?;
    let sums = Shasums::parse(&document)?;
    let signature = binary_signature(&uploaded_signature)?;
    let key_id = verify_release_signature(&document, &signature, keys, &provider.namespace)?;
    // Stored as Terraform reads it: binary.
    std::fs::write(staged.join(&signature_name), &signature)?;

    let mut platforms = BTreeMap::new();
    for (name, file) in &files {
        if name == &shasums_name || name == &signature_name {
            continue;
        }
        let listed = sums
            .get(name)
            .ok_or_else(|| ReleaseError::NotInShasums(name.clone()))?;
        if listed != file.sha256 {
            return Err(ReleaseError::HashMismatch {
                filename: name.clone(),
                actual: file.sha256.clone(),
                listed: listed.to_owned(),
            });
        }
        if let Some(platform) = names.platform_of(name) {
            let platform = platform.map_err(|e| ReleaseError::UnexpectedFile {
                name: name.clone(),
                expected: e.to_string(),
            })?;
            platforms.insert(platform, (name.clone(), file.sha256.clone(), file.size));
        }
    }
    for listed in sums.0.keys() {
        if names.platform_of(listed).is_some() && !files.contains_key(listed) {
            return Err(ReleaseError::ListedButMissing(listed.clone()));
        }
    }
    if platforms.is_empty() {
        return Err(ReleaseError::NoPackages(
            names.zip(&Platform::new("linux", "amd64").expect("valid")),
        ));
    }
    for (platform, (filename, _, _)) in &platforms {
        let zip = std::fs::File::open(staged.join(filename))?;
        validate_package(
            filename,
            std::io::BufReader::new(zip),
            provider,
            version,
            platform,
            max_unpacked,
        )?;
    }
    let protocols = match protocols {
        Some(protocols) => protocols,
        None if files.contains_key(&names.manifest()) => {
            manifest_protocols(&std::fs::read(staged.join(names.manifest()))?)?
        }
        None => DEFAULT_PROTOCOLS.iter().map(|p| p.to_string()).collect(),
    };
    validate_protocols(&protocols)?;
    Ok(CheckedRelease {
        platforms,
        protocols,
        key_id,
        shasums_filename: shasums_name,
        signature_filename: signature_name,
    })
}

/// Plugin protocol versions as the protocol lists them: `MAJOR.MINOR`, one to four of them.
pub fn validate_protocols(protocols: &[String]) -> Result<(), ReleaseError> {
    let valid = (1..=4).contains(&protocols.len())
        && protocols.iter().all(|p| {
            p.split_once('.').is_some_and(|(major, minor)| {
                [major, minor]
                    .iter()
                    .all(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
            })
        });
    if valid {
        Ok(())
    } else {
        Err(ReleaseError::Protocols(protocols.join(",")))
    }
}

fn manifest_protocols(bytes: &[u8]) -> Result<Vec<String>, ReleaseError> {
    let manifest: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ReleaseError::Manifest(e.to_string()))?;
    manifest["metadata"]["protocol_versions"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| ReleaseError::Manifest("no metadata.protocol_versions list".into()))
}

/// Writes the tar's files into `staged`, hashing them on the way.
fn unpack<R: Read>(
    body: R,
    staged: &Path,
    names: &ReleaseNames,
    max_bytes: u64,
) -> Result<BTreeMap<String, StagedFile>, ReleaseError> {
    let mut total = 0u64;
    let mut body = std::io::BufReader::new(body);
    let gzipped = std::io::BufRead::fill_buf(&mut body)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(body))
    } else {
        Box::new(body)
    };
    let mut archive = tar::Archive::new(reader);
    let not_tar = |e: std::io::Error| ReleaseError::NotTar(e.to_string());
    let mut files = BTreeMap::new();
    let expected = format!(
        "{}, {}, {} and optionally {}",
        names.zip(&Platform::new("os", "arch").expect("valid")),
        names.shasums(),
        names.signature(),
        names.manifest()
    );
    for entry in archive.entries().map_err(not_tar)? {
        let mut entry = entry.map_err(not_tar)?;
        let path = entry
            .path()
            .map_err(not_tar)?
            .to_string_lossy()
            .into_owned();
        let name = path.strip_prefix("./").unwrap_or(&path).to_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() && (name.is_empty() || name == ".") {
            continue;
        }
        if !kind.is_file() || name.is_empty() || name.contains('/') {
            return Err(ReleaseError::NotTopLevel(path));
        }
        let known = name == names.shasums()
            || name == names.signature()
            || name == names.manifest()
            || names.platform_of(&name).is_some();
        if !known {
            return Err(ReleaseError::UnexpectedFile { name, expected });
        }
        if files.contains_key(&name) {
            return Err(ReleaseError::Duplicate(name));
        }
        if files.len() == MAX_RELEASE_FILES {
            return Err(ReleaseError::TooManyFiles);
        }
        let mut out = std::fs::File::create(staged.join(&name))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = entry.read(&mut buffer).map_err(not_tar)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max_bytes {
                return Err(ReleaseError::TooLarge(max_bytes));
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
            size += n as u64;
        }
        out.sync_all()?;
        files.insert(
            name,
            StagedFile {
                sha256: hex::encode(hasher.finalize()),
                size,
            },
        );
    }
    Ok(files)
}

/// A seekable reader over the spooled request body, for [`check_release`].
pub fn rewind<F: Read + Seek>(mut file: F) -> std::io::Result<F> {
    file.seek(std::io::SeekFrom::Start(0))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::openpgp::testkey::{acme_key, TestKey};
    use crate::providers::package::tests::zip_of;
    use crate::providers::signing::parse_public_key;

    const EXE: &str = "terraform-provider-dns_v1.0.0";

    /// A tar of `files`, with `SHA256SUMS` over the zips signed by `key` when `signed`.
    fn release_tar(files: &[(&str, Vec<u8>)], key: &TestKey) -> Vec<u8> {
        let mut all: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, b)| (n.to_string(), b.clone()))
            .collect();
        let sums: String = files
            .iter()
            .filter(|(n, _)| n.ends_with(".zip") || n.ends_with("manifest.json"))
            .map(|(n, b)| format!("{}  {n}\n", hex::encode(Sha256::digest(b))))
            .collect();
        all.push((
            "terraform-provider-dns_1.0.0_SHA256SUMS".into(),
            sums.clone().into_bytes(),
        ));
        all.push((
            "terraform-provider-dns_1.0.0_SHA256SUMS.sig".into(),
            key.sign(sums.as_bytes()),
        ));
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in all {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn check(
        tar: Vec<u8>,
        keys: &[ParsedKey],
        protocols: Option<Vec<String>>,
    ) -> Result<CheckedRelease, ReleaseError> {
        let staged = tempfile::tempdir().unwrap();
        check_release(
            std::io::Cursor::new(tar),
            staged.path(),
            &ProviderAddress::new("acme", "dns").unwrap(),
            &ModuleVersion::parse("1.0.0").unwrap(),
            keys,
            protocols,
            1 << 20,
            1 << 20,
        )
    }

    fn linux_zip() -> Vec<u8> {
        zip_of(&[(EXE, 0o755, b"#!/bin/sh\n")])
    }

    #[test]
    fn a_signed_release_checks_out_with_its_protocols() {
        let key = acme_key();
        let keys = vec![parse_public_key(&key.armored_public()).unwrap()];
        let zip = ("terraform-provider-dns_1.0.0_linux_amd64.zip", linux_zip());
        let checked = check(release_tar(std::slice::from_ref(&zip), &key), &keys, None).unwrap();
        assert_eq!(checked.protocols, ["5.0"]);
        assert_eq!(checked.key_id, keys[0].key_id);
        let linux = Platform::new("linux", "amd64").unwrap();
        assert_eq!(
            checked.platforms[&linux].1,
            hex::encode(Sha256::digest(&zip.1))
        );

        let manifest = (
            "terraform-provider-dns_1.0.0_manifest.json",
            br#"{"version":1,"metadata":{"protocol_versions":["6.0"]}}"#.to_vec(),
        );
        let checked = check(release_tar(&[zip.clone(), manifest], &key), &keys, None).unwrap();
        assert_eq!(checked.protocols, ["6.0"]);
        let checked = check(
            release_tar(std::slice::from_ref(&zip), &key),
            &keys,
            Some(vec!["5.0".into(), "6.0".into()]),
        )
        .unwrap();
        assert_eq!(checked.protocols, ["5.0", "6.0"]);
        let error = check(release_tar(&[zip], &key), &keys, Some(vec!["six".into()])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid plugin protocols \"six\": give MAJOR.MINOR versions such as 5.0 or 6.0"
        );
    }

    #[test]
    fn a_gzipped_release_is_read_within_the_upload_limit() {
        let key = acme_key();
        let keys = vec![parse_public_key(&key.armored_public()).unwrap()];
        let zip = ("terraform-provider-dns_1.0.0_linux_amd64.zip", linux_zip());
        let tar = release_tar(std::slice::from_ref(&zip), &key);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        assert!(check(gz.finish().unwrap(), &keys, None).is_ok());
        // Files adding up to more than the limit (a bomb, once gzipped) stop the read.
        let big = (
            "terraform-provider-dns_1.0.0_linux_arm64.zip",
            vec![0u8; 2 << 20],
        );
        let error = check(release_tar(&[zip, big], &key), &keys, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the release's files add up to more than 1048576 bytes"
        );
    }

    #[test]
    fn what_does_not_belong_in_a_release_is_named() {
        let key = acme_key();
        let keys = vec![parse_public_key(&key.armored_public()).unwrap()];
        let zip = ("terraform-provider-dns_1.0.0_linux_amd64.zip", linux_zip());
        let error = check(
            release_tar(&[zip.clone(), ("notes.txt", b"hi".to_vec())], &key),
            &keys,
            None,
        )
        .unwrap_err();
        assert!(error.to_string().starts_with("\"notes.txt\" is not a file of this release; expected terraform-provider-dns_1.0.0_os_arch.zip"), "{error}");
        let error = check(release_tar(&[], &key), &keys, None).unwrap_err();
        assert_eq!(error.code(), "invalid_release");
        let error = check(release_tar(&[zip], &key), &[], None).unwrap_err();
        assert_eq!(error.code(), "invalid_signature");
    }
}
