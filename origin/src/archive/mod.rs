//! Turning an untrusted module upload into the archive the registry serves.
//!
//! Every upload goes through [`normalize_archive`] before it is published, and every module the
//! proxy fetches from a forge through [`normalize_archive_subdir`]. What we serve is unpacked by
//! Terraform on developer laptops and CI runners, so this module guarantees that what it writes
//! holds:
//!
//! - no path that climbs out of the directory it is unpacked into (`../x`, `/etc/x`, `C:\x`,
//!   backslashes, NUL bytes, non-UTF-8 names), and no two entries at one path;
//! - no symlink, hard link, device node, fifo or sparse file: links let later entries be
//!   written anywhere, devices open the machine to whoever unpacks as root;
//! - nothing larger than [`ArchiveLimits`] allow, counted on what the decompressor produces
//!   rather than on the sizes the archive declares, so a decompression bomb stops at the limit;
//! - a Terraform file at its root, the module's own folder lifted there if it was wrapped in
//!   one (or the subdirectory the caller selected).
//!
//! What is accepted is not copied but re-encoded as a fresh, deterministic `.tar.gz`. Terraform
//! therefore only ever sees bytes this module wrote, which closes the door on parser
//! differentials (an archive that reads one way here and another way in Go's `archive/tar` or
//! `archive/zip`), and makes the published checksum a function of the module's content rather
//! than of whichever tool packed it. Every refusal is an [`ArchiveError`] whose message is
//! meant for the uploader.
//!
//! The input is read twice. The first pass checks every entry and decides the layout
//! (`plan.rs`, with `entry_path.rs` for names and `selection.rs` for a subdirectory); the second
//! writes the output (`output.rs`). Nothing is written before the whole upload has been vetted.
//! Entry data streams through the metered readers of `metered_io.rs` in both passes, so memory
//! does not grow with what the archive unpacks to. `format.rs` tells the formats apart, and
//! `tar_gz.rs` and `zip_file.rs` run the passes over each.

mod entry_path;
mod error;
mod format;
mod metered_io;
mod output;
mod plan;
mod selection;
mod tar_gz;
mod zip_file;

#[cfg(test)]
mod tests;

use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

pub use error::ArchiveError;
use format::{sniff, Format};
use metered_io::{HashingWriter, Input, Meter};
use selection::Selection;

/// Default for [`ArchiveLimits::max_unpacked_bytes`]: 512 MiB.
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;

/// Default for [`ArchiveLimits::max_files`]: 10 000 entries, files and directories together.
pub const DEFAULT_MAX_FILES: u64 = 10_000;

/// Bounds on what an upload may expand to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most bytes the upload may decompress to. For a `.tar.gz` this counts the whole
    /// decompressed tar stream (headers and padding included); for a zip, the decompressed data
    /// of its files. It is enforced on the bytes the decompressor actually produces, not on the
    /// sizes the archive declares.
    pub max_unpacked_bytes: u64,
    /// Most entries (regular files plus directories) the archive may hold. Entries that a
    /// subdirectory selection leaves out count too: the limit is on what we read, not on what
    /// we keep.
    pub max_files: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

/// What [`normalize_archive`] or [`normalize_archive_subdir`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedArchive {
    /// Lowercase hex SHA-256 of the bytes written to the output (the `.tar.gz` we serve).
    pub sha256: String,
    /// Number of bytes written to the output.
    pub size: u64,
    /// Number of regular files in the output.
    pub files: u64,
    /// Total size of those files' contents.
    pub unpacked_bytes: u64,
    /// The directory that was removed so that the module sits at the root of the output, if
    /// any: the single top-level directory of a wrapped upload (e.g. `repo-1.2.0` for a GitHub
    /// release tarball), or the concrete directory a selection matched (e.g.
    /// `repo-abc123/modules/sub` for `*/modules/sub`).
    pub stripped_prefix: Option<String>,
}

/// Validates an uploaded module archive and writes its normalised form to `output`.
///
/// The format is told by content, never by name: gzip (taken to hold a tar) or zip. The output
/// is always a gzip-compressed tar with entries in input order, owner 0:0 without owner names,
/// mode 0755 for directories and executables and 0644 for other files, and the input's
/// modification times (0 where the input has none). If no Terraform file sits at the root and
/// everything lies under one top-level directory, that directory is removed.
///
/// `input` is read from its current position, and is read twice. On error, `output` may have
/// received part of an archive and must be discarded.
pub fn normalize_archive<R: Read + Seek, W: Write>(
    input: R,
    output: W,
    limits: &ArchiveLimits,
) -> Result<NormalizedArchive, ArchiveError> {
    normalize_archive_subdir(input, output, limits, "")
}

/// Normalises like [`normalize_archive`], but keeps only the directory that `select` names.
///
/// `select` is a go-getter style subdirectory (the part after `//` in a module source): a
/// relative path of `/`-separated components, each a literal name or `*` for any one name, as
/// in `modules/sub`, `*` or `*/modules/sub`. Leading and trailing slashes and `.` components are
/// ignored. Exactly one directory of the archive must match. Entries beneath it are written with
/// its path removed, so that it becomes the module root, and `stripped_prefix` reports that
/// path. Since the caller says where the module is, no further top-level directory is stripped.
/// An empty pattern (or `.`) selects the archive root and behaves exactly as
/// [`normalize_archive`].
///
/// Entries outside the selected directory are neither written nor held to the link,
/// special-file and duplicate checks, so that a repository with a symlink in `examples/` still
/// gives its `modules/sub`. Their names are still validated, since a `../` name anywhere marks
/// a hostile archive, and they still count against `limits`.
pub fn normalize_archive_subdir<R: Read + Seek, W: Write>(
    input: R,
    output: W,
    limits: &ArchiveLimits,
    select: &str,
) -> Result<NormalizedArchive, ArchiveError> {
    let selection = Selection::parse(select)?;
    let meter = Meter::new(limits.max_unpacked_bytes);
    let mut input = Input {
        inner: input,
        meter: &meter,
    };
    let start = input.stream_position().map_err(ArchiveError::Io)?;
    let format = sniff(&mut input)
        .map_err(|e| meter.error(e))?
        .ok_or(ArchiveError::NotAnArchive)?;
    input
        .seek(SeekFrom::Start(start))
        .map_err(ArchiveError::Io)?;

    let mut output = HashingWriter {
        inner: output,
        hasher: Sha256::new(),
        written: 0,
        meter: &meter,
    };
    let plan = match format {
        Format::TarGz => {
            tar_gz::normalize(&mut input, start, &mut output, limits, &selection, &meter)?
        }
        Format::Zip => zip_file::normalize(&mut input, &mut output, limits, &selection, &meter)?,
    };
    output.flush().map_err(ArchiveError::Io)?;

    Ok(NormalizedArchive {
        sha256: hex::encode(output.hasher.finalize()),
        size: output.written,
        files: plan.files,
        unpacked_bytes: plan.unpacked_bytes,
        stripped_prefix: plan.stripped_prefix,
    })
}
