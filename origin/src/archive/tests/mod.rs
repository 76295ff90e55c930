//! The archive module's tests, through its two public functions only, grouped by what they
//! protect. Inputs come from the workspace's one archive builder, [`ArchiveBuilder`], which
//! writes tar, tar.gz and zip byte by byte so that hostile entries can be written too.

mod corrupt;
mod hostile_entries;
mod layout;
mod limits;
mod normalised_output;
mod subdirectory;
mod subdirectory_hostile;

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use tar::EntryType;
use tfreg_testkit::archive::{gzip, ArchiveBuilder};

use super::tar_gz::MAX_EXTENSION_HEADER_BYTES;
use super::zip_file;
use super::*;

/// 2024-01-02T03:04:06Z, the modification time every test entry gets (a whole even second, so
/// that zips hold it exactly too).
const MTIME: u64 = 1_704_164_646;

/// An empty archive whose entries have [`MTIME`] and an owner (uid and gid 1000, `alice`) that
/// the output must not keep.
fn archive() -> ArchiveBuilder {
    ArchiveBuilder::new()
        .mtime(MTIME)
        .owner(1000, 1000, "alice")
}

fn run(input: &[u8], limits: &ArchiveLimits) -> Result<(NormalizedArchive, Vec<u8>), ArchiveError> {
    let mut output = Vec::new();
    let normalized = normalize_archive(Cursor::new(input), &mut output, limits)?;
    check_described(&normalized, &output);
    Ok((normalized, output))
}

fn run_subdir(
    input: &[u8],
    limits: &ArchiveLimits,
    select: &str,
) -> Result<(NormalizedArchive, Vec<u8>), ArchiveError> {
    let mut output = Vec::new();
    let normalized = normalize_archive_subdir(Cursor::new(input), &mut output, limits, select)?;
    check_described(&normalized, &output);
    Ok((normalized, output))
}

fn ok_subdir(input: &[u8], select: &str) -> (NormalizedArchive, Vec<String>) {
    let (normalized, output) = run_subdir(input, &ArchiveLimits::default(), select).unwrap();
    (normalized, list(&output))
}

fn fail_subdir(input: &[u8], select: &str) -> String {
    fail_subdir_with(input, &ArchiveLimits::default(), select)
}

fn fail_subdir_with(input: &[u8], limits: &ArchiveLimits, select: &str) -> String {
    run_subdir(input, limits, select).unwrap_err().to_string()
}

fn check_described(normalized: &NormalizedArchive, output: &[u8]) {
    // Every success is checked to describe the bytes it wrote.
    assert_eq!(normalized.size, output.len() as u64);
    assert_eq!(normalized.sha256, hex::encode(Sha256::digest(output)));
}

fn ok(input: &[u8]) -> (NormalizedArchive, Vec<String>) {
    let (normalized, output) = run(input, &ArchiveLimits::default()).unwrap();
    (normalized, list(&output))
}

fn fail(input: &[u8]) -> String {
    fail_with(input, &ArchiveLimits::default())
}

fn fail_with(input: &[u8], limits: &ArchiveLimits) -> String {
    run(input, limits).unwrap_err().to_string()
}

/// Lists a normalised archive as `<type> <mode> <path> <size>` lines, checking on the way
/// the properties every entry must have.
fn list(output: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(GzDecoder::new(output));
    let mut lines = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.uid().unwrap(), 0);
        assert_eq!(header.gid().unwrap(), 0);
        assert_eq!(header.username_bytes().unwrap_or(b""), b"");
        assert_eq!(header.groupname_bytes().unwrap_or(b""), b"");
        assert_eq!(header.mtime().unwrap(), MTIME);
        let kind = match header.entry_type() {
            EntryType::Regular => "f",
            EntryType::Directory => "d",
            other => panic!("unexpected entry type {other:?}"),
        };
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        lines.push(format!(
            "{kind} {:o} {path} {}",
            header.mode().unwrap(),
            entry.size()
        ));
    }
    lines
}

/// A small module at the archive root.
fn module() -> ArchiveBuilder {
    archive()
        .file("main.tf", "resource \"x\" \"y\" {}\n")
        .file("README.md", "# m\n")
}

/// What GitHub serves for `/repos/o/repo/tarball/<sha>`: a pax global header holding the
/// commit id, then everything under one `repo-<sha>/` folder.
fn github_tarball() -> ArchiveBuilder {
    archive()
        .pax_global_header(&[("comment", b"abc1230000000000000000000000000000000000")])
        .dir("repo-abc123/")
        .file("repo-abc123/main.tf", "module \"sub\" {}\n")
        .file("repo-abc123/README.md", "# repo\n")
        .dir("repo-abc123/modules/")
        .dir("repo-abc123/modules/sub/")
        .file("repo-abc123/modules/sub/main.tf", "variable \"v\" {}\n")
        .dir("repo-abc123/modules/sub/scripts/")
        .file("repo-abc123/modules/sub/scripts/run.sh", "#!/bin/sh\n")
        .mode(0o755)
}

/// [`github_tarball`]'s `modules/sub` as [`list`] shows it.
const SUB_ENTRIES: [&str; 3] = [
    "f 644 main.tf 16",
    "d 755 scripts/ 0",
    "f 755 scripts/run.sh 10",
];

const ONE_MB: ArchiveLimits = ArchiveLimits {
    max_unpacked_bytes: 1024 * 1024,
    max_files: DEFAULT_MAX_FILES,
};
