//! The reasons an upload is refused, worded for the uploader.

use std::io;

/// Why an upload was refused. The `Display` text is meant to be shown to the uploader as is;
/// every variant except [`ArchiveError::Io`] is the fault of the upload or of the subdirectory
/// the caller asked for.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Neither gzip nor zip magic bytes at the start of the body.
    #[error("body is not a tar.gz or zip archive")]
    NotAnArchive,
    /// The gzip, tar or zip structure could not be read.
    #[error("archive is corrupt: {0}")]
    Corrupt(String),
    /// Decompressing the upload produced more than [`ArchiveLimits::max_unpacked_bytes`].
    #[error("archive unpacks to more than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The upload holds more than [`ArchiveLimits::max_files`] entries.
    #[error("archive holds more than {limit} entries")]
    TooManyFiles { limit: u64 },
    /// An entry name starts at the filesystem root or a Windows drive.
    #[error("absolute path found in archive: {path}")]
    AbsolutePath { path: String },
    /// An entry name has a `..` component.
    #[error("path with a `..` component found in archive: {path}")]
    ParentDirPath { path: String },
    /// An entry name is not UTF-8, or holds a backslash or NUL byte.
    #[error("invalid path in archive: {path}")]
    InvalidPath { path: String },
    /// A tar symlink or hard link, or a zip entry whose unix mode marks it as a symlink.
    #[error("unexpected symlink or hard link found: {path}")]
    Link { path: String },
    /// A device node, fifo, socket, sparse file or unknown tar entry type.
    #[error("unexpected special file (device, fifo or other) found: {path}")]
    SpecialFile { path: String },
    /// Two entries land on the same path once normalised, or a path is used both as a file
    /// and as a directory.
    #[error("duplicate path in archive: {path}")]
    DuplicatePath { path: String },
    /// No regular file at all.
    #[error("archive is empty")]
    Empty,
    /// No `*.tf` or `*.tf.json` file at the root after normalisation.
    #[error("archive has no .tf or .tf.json file at its module root")]
    NoTerraformFiles,
    /// The subdirectory pattern given to [`normalize_archive_subdir`] cannot be used.
    #[error("invalid subdirectory {pattern:?}: {reason}")]
    InvalidSubdirectory {
        pattern: String,
        reason: &'static str,
    },
    /// No directory in the archive matches the subdirectory pattern (a file of that name does
    /// not count).
    #[error("the archive has no directory {pattern:?}")]
    NoSuchDirectory { pattern: String },
    /// A `*` in the subdirectory pattern matches more than one directory.
    #[error("the archive has more than one directory matching {pattern:?}")]
    AmbiguousDirectory { pattern: String },
    /// Reading the input or writing the output failed for reasons that are not the archive's
    /// fault (disk full, read error on the spooled upload): a server error, not a bad upload.
    #[error("I/O error while normalising the archive: {0}")]
    Io(#[source] io::Error),
}
