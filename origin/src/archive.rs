//! Turning an untrusted module upload into the archive the registry serves.
//!
//! Every upload goes through [`normalize_archive`] before it is published, and every module the
//! proxy fetches from a forge through [`normalize_archive_subdir`]. What we serve is
//! unpacked by Terraform on developer laptops and CI runners, so everything an unpacker can be
//! tricked with is refused here: paths that climb out of the target directory, links that point
//! outside it, device nodes, and decompression bombs that fill a disk or exhaust memory.
//!
//! What is accepted is not copied but re-encoded as a fresh, deterministic `.tar.gz`. Terraform
//! therefore only ever sees bytes this module wrote, which closes the door on parser
//! differentials (an archive that reads one way here and another way in Go's `archive/tar` or
//! `archive/zip`), and makes the published checksum a function of the module's content rather
//! than of whichever tool packed it.
//!
//! The input is read twice: the first pass validates every entry and decides the layout (which
//! directory becomes the module root), the second writes the output. Nothing is written before
//! the whole upload has been vetted. Entry data is streamed in both passes, so memory does not
//! grow with what the archive unpacks to.

use std::cell::Cell;
use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};

use flate2::read::MultiGzDecoder;
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use tar::EntryType;

/// Default for [`ArchiveLimits::max_unpacked_bytes`]: 512 MiB.
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;

/// Default for [`ArchiveLimits::max_files`]: 10 000 entries, files and directories together.
pub const DEFAULT_MAX_FILES: u64 = 10_000;

/// Largest GNU long-name or pax extended header we read. The tar format lets such a header be
/// any size and it has to be held in memory to be used, so without a cap a few kilobytes of
/// gzip could make us allocate the whole unpacked-size budget for one file name.
const MAX_EXTENSION_HEADER_BYTES: u64 = 1024 * 1024;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    TarGz,
    Zip,
}

/// Tells the format from the first bytes. Names and content types are chosen by the uploader
/// and prove nothing; magic bytes at least prove which parser will be asked to read the rest.
fn sniff(input: &mut impl Read) -> io::Result<Option<Format>> {
    let mut magic = [0u8; 4];
    let mut len = 0;
    while len < magic.len() {
        match input.read(&mut magic[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(match &magic[..len] {
        [0x1f, 0x8b, ..] => Some(Format::TarGz),
        // Local file header, or the end-of-central-directory record an empty zip starts with.
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => Some(Format::Zip),
        _ => None,
    })
}

/// Shared accounting for one call: the unpacked-size budget left, and which kind of failure
/// happened first. Errors come back from the tar, zip and gzip code as plain `io::Error`s,
/// often re-wrapped, so the wrappers below record what they saw instead of relying on the
/// error surviving the trip intact.
struct Meter {
    limit: u64,
    remaining: Cell<u64>,
    limit_hit: Cell<bool>,
    io_failed: Cell<bool>,
}

impl Meter {
    fn new(limit: u64) -> Self {
        Meter {
            limit,
            remaining: Cell::new(limit),
            limit_hit: Cell::new(false),
            io_failed: Cell::new(false),
        }
    }

    /// Refills the budget for the next pass over the input.
    fn reset(&self) {
        self.remaining.set(self.limit);
    }

    /// Classifies an error raised while the archive was being read or written.
    fn error(&self, error: io::Error) -> ArchiveError {
        if self.limit_hit.get() {
            ArchiveError::TooLarge { limit: self.limit }
        } else if self.io_failed.get() {
            ArchiveError::Io(error)
        } else {
            // Parser messages can quote raw header bytes.
            ArchiveError::Corrupt(printable(&error.to_string()))
        }
    }

    fn zip_error(&self, error: zip::result::ZipError) -> ArchiveError {
        match error {
            zip::result::ZipError::Io(e) => self.error(e),
            other if self.io_failed.get() => ArchiveError::Io(io::Error::other(other)),
            other => ArchiveError::Corrupt(printable(&other.to_string())),
        }
    }
}

/// The caller's reader, noting read failures so they are not blamed on the archive.
struct Input<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<R: Read> Read for Input<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.meter.io_failed.set(true);
            }
        })
    }
}

impl<R: Seek> Seek for Input<'_, R> {
    // Seek errors are not recorded: the zip reader seeks to offsets taken from the archive, and
    // an impossible offset there is corruption, not an I/O failure.
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Sits directly on top of a decompressor and fails once the pass has produced more than the
/// budget allows. Sizes written in tar headers and zip directories are chosen by the uploader,
/// so a bomb can declare a few bytes and inflate to gigabytes; only counting what actually
/// comes out of the decompressor stops it.
struct Limited<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<R: Read> Read for Limited<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.meter.remaining.get();
        // Asking for one byte beyond the budget tells "ends exactly at the limit" apart from
        // "goes on past it".
        let want =
            usize::try_from(remaining.saturating_add(1)).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > remaining {
            self.meter.limit_hit.set(true);
            return Err(io::Error::other("unpacked size limit exceeded"));
        }
        self.meter.remaining.set(remaining - n as u64);
        Ok(n)
    }
}

/// Yields exactly `remaining` bytes of `inner` and no more. Used in the second pass, where the
/// size in the output header was measured in the first pass and must match what is written.
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The caller's writer, hashing and counting exactly the bytes it accepted.
struct HashingWriter<'m, W> {
    inner: W,
    hasher: Sha256,
    written: u64,
    meter: &'m Meter,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.meter.io_failed.set(true);
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .inspect_err(|_| self.meter.io_failed.set(true))
    }
}

/// Copies `reader` to nowhere, returning how many bytes it produced.
fn measure(reader: &mut impl Read, meter: &Meter) -> Result<u64, ArchiveError> {
    io::copy(reader, &mut io::sink()).map_err(|e| meter.error(e))
}

/// What an entry is, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File { executable: bool },
    Dir,
    Link,
    Special,
}

/// A file or directory the first pass read that may be written to the output: every one when
/// the archive root is selected, else those whose path starts with a match of the selection
/// pattern. [`Planner::finish`] keeps the ones beneath the selected directory.
#[derive(Debug)]
struct Planned {
    /// Position of the entry in the input, counted the same way by both passes.
    index: usize,
    /// The name as it appears in the input, for error messages.
    original: String,
    /// Normalised path without a trailing slash; relative to the module root once the plan is
    /// finished (the selected directory, or a stripped top-level directory, removed).
    path: String,
    kind: PlannedKind,
    mtime: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlannedKind {
    Dir,
    /// `size` is what the first pass actually read, not what the archive declared.
    File {
        size: u64,
        executable: bool,
    },
}

impl Planned {
    fn is_file(&self) -> bool {
        matches!(self.kind, PlannedKind::File { .. })
    }
}

/// A name accepted by [`Planner::admit`].
struct Admitted {
    original: String,
    path: String,
}

/// A link or special file that is refused if it turns out to lie in the selected directory.
/// With a `*` in the pattern, which directory that is can depend on entries not read yet.
struct Refusal {
    path: String,
    error: ArchiveError,
}

/// First-pass bookkeeping shared by both input formats.
struct Planner<'l> {
    limits: &'l ArchiveLimits,
    selection: &'l Selection,
    entries: Vec<Planned>,
    refusals: Vec<Refusal>,
    count: u64,
    declared_bytes: u64,
}

/// The outcome of the first pass.
struct Plan {
    entries: Vec<Planned>,
    files: u64,
    unpacked_bytes: u64,
    stripped_prefix: Option<String>,
}

impl<'l> Planner<'l> {
    fn new(limits: &'l ArchiveLimits, selection: &'l Selection) -> Self {
        Planner {
            limits,
            selection,
            entries: Vec::new(),
            refusals: Vec::new(),
            count: 0,
            declared_bytes: 0,
        }
    }

    /// Checks one entry's name, type and declared size. `Ok(None)` means the entry is not to be
    /// planned: it is the root directory itself (`./`), a link or special file that lies outside
    /// the selected directory, or anything else that cannot lie inside it. Links and special
    /// files are never admitted. A file's data must be read whatever the answer, so that it
    /// counts against the size limit.
    fn admit(
        &mut self,
        raw_name: &[u8],
        kind: EntryKind,
        declared_size: u64,
    ) -> Result<Option<Admitted>, ArchiveError> {
        // Every name is checked, kept or not: whatever is asked of it, an archive holding
        // `../x` or `/etc/x` was made to attack its unpacker.
        let (original, path) = normalize_path(raw_name)?;
        let candidate = self.selection.candidate(&path);
        let refusal = match kind {
            // A link can point anywhere, and an unpacker that follows it writes there; later
            // entries can even be written *through* it. Modules have no use for links.
            EntryKind::Link => Some(ArchiveError::Link {
                path: original.clone(),
            }),
            // Unpacked as root in a CI job, a device node is a hole into the machine; a fifo
            // hangs whoever reads it.
            EntryKind::Special => Some(ArchiveError::SpecialFile {
                path: original.clone(),
            }),
            EntryKind::Dir | EntryKind::File { .. } => None,
        };
        let is_refused = refusal.is_some();
        if let Some(error) = refusal {
            match candidate {
                // Certainly in the directory that will be kept: refused before reading on.
                Some(len) if self.selection.is_unambiguous() && is_beneath(&path, &path[..len]) => {
                    return Err(error);
                }
                // In it only if this candidate turns out to be the one match.
                Some(_) => self.refusals.push(Refusal {
                    path: path.clone(),
                    error,
                }),
                None => {}
            }
        }
        if path.is_empty() {
            if kind == EntryKind::Dir {
                return Ok(None);
            }
            return Err(ArchiveError::InvalidPath { path: original });
        }
        // Counted as we go so that an archive of millions of empty files is refused after
        // `max_files` of them rather than after all of them.
        self.count += 1;
        if self.count > self.limits.max_files {
            return Err(ArchiveError::TooManyFiles {
                limit: self.limits.max_files,
            });
        }
        if let EntryKind::File { .. } = kind {
            // Declared sizes can lie low, which the byte counting catches, but when they are
            // honestly too large we can refuse before inflating anything.
            self.declared_bytes = self.declared_bytes.saturating_add(declared_size);
            if self.declared_bytes > self.limits.max_unpacked_bytes {
                return Err(ArchiveError::TooLarge {
                    limit: self.limits.max_unpacked_bytes,
                });
            }
        }
        if is_refused || candidate.is_none() {
            return Ok(None);
        }
        Ok(Some(Admitted { original, path }))
    }

    fn push(&mut self, index: usize, admitted: Admitted, kind: PlannedKind, mtime: u64) {
        self.entries.push(Planned {
            index,
            original: admitted.original,
            path: admitted.path,
            kind,
            mtime,
        });
    }

    /// The whole-archive checks, once every entry has been seen.
    fn finish(self) -> Result<Plan, ArchiveError> {
        let root = self.selection.directory(&self.entries, &self.refusals)?;
        if let Some(refusal) = self
            .refusals
            .into_iter()
            .find(|r| r.path == root || is_beneath(&r.path, &root))
        {
            return Err(refusal.error);
        }
        let mut entries = Vec::with_capacity(self.entries.len());
        for mut entry in self.entries {
            if entry.path == root {
                // The selected directory's own entry, which the output's root does without. A
                // file of the same name makes the path both a file and a directory.
                if entry.is_file() {
                    return Err(ArchiveError::DuplicatePath {
                        path: entry.original,
                    });
                }
            } else if is_beneath(&entry.path, &root) {
                if !root.is_empty() {
                    entry.path.drain(..=root.len());
                }
                entries.push(entry);
            }
        }

        let files = entries.iter().filter(|e| e.is_file()).count() as u64;
        if files == 0 {
            return Err(ArchiveError::Empty);
        }
        let unpacked_bytes = entries
            .iter()
            .map(|e| match e.kind {
                PlannedKind::File { size, .. } => size,
                PlannedKind::Dir => 0,
            })
            .sum();

        let mut stripped_prefix = None;
        if !root.is_empty() {
            // The caller said where the module is; a folder inside it is part of the module.
            stripped_prefix = Some(root);
        } else if !has_root_terraform_file(&entries) {
            // Terraform reads the directory it unpacked into, so a module wrapped in a folder
            // (as GitHub's release tarballs and most "compress this folder" tools do) would
            // install as a module with no configuration in it.
            if let Some(prefix) = single_top_level_dir(&entries) {
                entries.retain(|e| e.path != prefix);
                for entry in &mut entries {
                    entry.path.drain(..=prefix.len());
                }
                stripped_prefix = Some(prefix);
            }
        }

        check_duplicates(&entries)?;

        if !has_root_terraform_file(&entries) {
            return Err(ArchiveError::NoTerraformFiles);
        }
        Ok(Plan {
            entries,
            files,
            unpacked_bytes,
            stripped_prefix,
        })
    }
}

/// Whether normalised `path` lies strictly inside directory `dir`; everything lies in the
/// archive root, `""`.
fn is_beneath(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// Which directory of the archive becomes the module root: a parsed go-getter subdirectory.
#[derive(Debug)]
struct Selection {
    /// As the caller gave it, for error messages.
    pattern: String,
    /// Empty for the archive root.
    components: Vec<Component>,
}

#[derive(Debug, PartialEq, Eq)]
enum Component {
    Name(String),
    /// `*`: any one name.
    Any,
}

impl Selection {
    fn parse(pattern: &str) -> Result<Self, ArchiveError> {
        let invalid = |reason| ArchiveError::InvalidSubdirectory {
            pattern: pattern.to_string(),
            reason,
        };
        // Refused for the same reasons as in entry names: on Windows, and in what go-getter
        // makes of the pattern there, a backslash separates directories; a NUL truncates.
        if pattern.contains('\\') {
            return Err(invalid(
                "a backslash is not allowed; separate directories with `/`",
            ));
        }
        if pattern.contains('\0') {
            return Err(invalid("a NUL byte is not allowed"));
        }
        let mut components = Vec::new();
        for name in pattern.split('/') {
            match name {
                "" | "." => {}
                // The module must come from inside the archive.
                ".." => return Err(invalid("a `..` component is not allowed")),
                "*" => components.push(Component::Any),
                // go-getter hands the pattern to `filepath.Glob`, where these are wildcards too;
                // taking them literally here would select something else than go-getter does.
                _ if name.contains(['*', '?', '[']) => {
                    return Err(invalid(
                        "only a whole component can be a wildcard (`*`, not `foo*`)",
                    ));
                }
                _ => components.push(Component::Name(name.to_string())),
            }
        }
        Ok(Selection {
            pattern: pattern.to_string(),
            components,
        })
    }

    /// Whether at most one directory can match, so that a candidate is the match as soon as
    /// it is seen to be a directory.
    fn is_unambiguous(&self) -> bool {
        !self.components.contains(&Component::Any)
    }

    /// If the leading components of normalised `path` match the pattern, the length of that
    /// prefix: the directory that `path` is, or lies in, should that directory be the match.
    /// Always `Some(0)` for the archive root.
    fn candidate(&self, path: &str) -> Option<usize> {
        if self.components.is_empty() {
            return Some(0);
        }
        if path.is_empty() {
            return None;
        }
        let mut names = path.split('/');
        let mut len = 0;
        for (i, component) in self.components.iter().enumerate() {
            let name = names.next()?;
            match component {
                Component::Any => {}
                Component::Name(literal) if literal == name => {}
                Component::Name(_) => return None,
            }
            len += name.len() + usize::from(i > 0);
        }
        Some(len)
    }

    /// The one directory the pattern matches, among the directories the planned and refused
    /// paths show: those with an entry of their own and those that only hold other entries.
    /// `""` for the archive root.
    fn directory(&self, entries: &[Planned], refusals: &[Refusal]) -> Result<String, ArchiveError> {
        if self.components.is_empty() {
            return Ok(String::new());
        }
        let paths = entries
            .iter()
            .map(|e| (e.path.as_str(), !e.is_file()))
            .chain(refusals.iter().map(|r| (r.path.as_str(), false)));
        let mut found: Option<&str> = None;
        for (path, is_dir) in paths {
            let Some(len) = self.candidate(path) else {
                continue;
            };
            // A file, link or special file of the matching name is not a directory (unless other
            // entries lie beneath it too, and then it is refused as a duplicate or a link).
            if !is_dir && path.len() == len {
                continue;
            }
            let dir = &path[..len];
            match found {
                None => found = Some(dir),
                Some(other) if other == dir => {}
                Some(_) => {
                    return Err(ArchiveError::AmbiguousDirectory {
                        pattern: self.pattern.clone(),
                    });
                }
            }
        }
        found
            .map(str::to_string)
            .ok_or_else(|| ArchiveError::NoSuchDirectory {
                pattern: self.pattern.clone(),
            })
    }
}

/// Validates an entry name and returns it for display along with its normalised form: no `.`
/// or empty components, no trailing slash. The root itself normalises to the empty string.
fn normalize_path(raw: &[u8]) -> Result<(String, String), ArchiveError> {
    let Ok(name) = std::str::from_utf8(raw) else {
        // What a non-UTF-8 name becomes on disk depends on the unpacker's platform and locale,
        // so it is refused rather than guessed at.
        return Err(ArchiveError::InvalidPath {
            path: printable(&String::from_utf8_lossy(raw)),
        });
    };
    let original = printable(name);
    let bytes = name.as_bytes();
    // `/etc/cron.d/x` or `C:\Windows\...` would be written wherever the unpacker is told, not
    // under the module directory.
    if bytes.first() == Some(&b'/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err(ArchiveError::AbsolutePath { path: original });
    }
    // A backslash is a separator on Windows, so `a\..\..\x` would climb out there while
    // looking like one harmless component here. A NUL truncates the name in C-based unpackers,
    // so the file lands under a different name than the one checked.
    if name.contains(['\\', '\0']) {
        return Err(ArchiveError::InvalidPath { path: original });
    }
    let mut components = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            // Even `a/../b`, which stays inside, is refused: resolving it safely needs the
            // unpacker to track what is a directory, and not all do.
            ".." => return Err(ArchiveError::ParentDirPath { path: original }),
            c => components.push(c),
        }
    }
    Ok((original, components.join("/")))
}

/// Escapes control characters so that a crafted name cannot forge lines in logs or terminals
/// when it is echoed back in an error message.
fn printable(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether Terraform would load `name` as configuration: `*.tf` or `*.tf.json`, and not a
/// hidden file, which Terraform skips.
fn is_terraform_file(name: &str) -> bool {
    (name.ends_with(".tf") || name.ends_with(".tf.json")) && !name.starts_with('.')
}

fn has_root_terraform_file(entries: &[Planned]) -> bool {
    entries
        .iter()
        .any(|e| e.is_file() && !e.path.contains('/') && is_terraform_file(&e.path))
}

/// The one directory every entry lies under, if there is such a directory.
fn single_top_level_dir(entries: &[Planned]) -> Option<String> {
    let first = entries.first()?;
    let top = first.path.split('/').next()?;
    for entry in entries {
        match entry.path.split_once('/') {
            Some((t, _)) if t == top => {}
            // The directory's own entry; a *file* of that name means it is not a directory.
            None if entry.path == top && !entry.is_file() => {}
            _ => return None,
        }
    }
    Some(top.to_string())
}

/// Refuses two entries at one path, and a path that is a file for one entry and a directory
/// for another. Which one wins on disk depends on the unpacker, so the content we checksum and
/// the content a user gets could differ.
fn check_duplicates(entries: &[Planned]) -> Result<(), ArchiveError> {
    let mut explicit = HashSet::new();
    let mut files = HashSet::new();
    let mut dirs = HashSet::new();
    for entry in entries {
        let duplicate = || ArchiveError::DuplicatePath {
            path: entry.original.clone(),
        };
        if !explicit.insert(entry.path.as_str()) {
            return Err(duplicate());
        }
        for (i, _) in entry.path.match_indices('/') {
            let ancestor = &entry.path[..i];
            if files.contains(ancestor) {
                return Err(duplicate());
            }
            dirs.insert(ancestor);
        }
        if entry.is_file() {
            if dirs.contains(entry.path.as_str()) {
                return Err(duplicate());
            }
            files.insert(entry.path.as_str());
        } else {
            dirs.insert(entry.path.as_str());
        }
    }
    Ok(())
}

/// Starts the output: a tar inside a gzip stream whose header carries no name, no timestamp
/// and no operating system, so that equal content gives equal bytes.
fn output_builder<W: Write>(output: W) -> tar::Builder<flate2::write::GzEncoder<W>> {
    let gz = GzBuilder::new()
        .operating_system(255)
        // Level 1: four times the throughput of the default level (measured by
        // `cargo bench -p tfreg-origin`), for archives a little larger. Uploads are source
        // code that is small either way; the CPU an upload holds matters more.
        .write(output, Compression::fast());
    tar::Builder::new(gz)
}

/// Appends one planned entry to the output.
fn append_planned<W: Write>(
    builder: &mut tar::Builder<W>,
    entry: &Planned,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(entry.mtime);
    match entry.kind {
        PlannedKind::Dir => {
            header.set_entry_type(EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, format!("{}/", entry.path), io::empty())
        }
        PlannedKind::File { size, executable } => {
            // Only the executable bit survives: setuid, setgid, sticky and world-writable bits
            // from the uploader's machine have no business on the user's.
            header.set_entry_type(EntryType::Regular);
            header.set_mode(if executable { 0o755 } else { 0o644 });
            header.set_size(size);
            builder.append_data(&mut header, &entry.path, data)
        }
    }
}

/// Fails the second pass if an entry's data did not match the first pass. The input is ours and
/// should not change between passes; if it somehow does, the size already written to the
/// output header would be a lie.
fn check_exact<R>(data: &Exact<R>, entry: &Planned) -> Result<(), ArchiveError> {
    if data.remaining != 0 {
        return Err(ArchiveError::Corrupt(format!(
            "{} changed between reads",
            entry.original
        )));
    }
    Ok(())
}

mod tar_gz {
    use super::*;

    /// One tar member with the name its extension headers gave it.
    pub(super) struct Member<'a, R: Read> {
        pub entry: tar::Entry<'a, R>,
        pub path: Vec<u8>,
        /// pax `GNU.sparse.*` records: the data is a sparse map, not the file's content.
        pub pax_sparse: bool,
    }

    /// Reads the next member, folding GNU long-name and pax headers into it and skipping pax
    /// global headers (`git archive` writes one holding the commit id).
    ///
    /// The tar crate can do this folding itself, but it reads extension headers into memory
    /// whatever their size; walking the raw entries lets us cap them.
    pub(super) fn next_member<'a, R: Read>(
        entries: &mut tar::Entries<'a, R>,
    ) -> io::Result<Option<Member<'a, R>>> {
        let mut long_name: Option<Vec<u8>> = None;
        let mut pax: Option<Vec<u8>> = None;
        let mut long_link_seen = false;
        loop {
            let Some(entry) = entries.next() else {
                if long_name.is_some() || pax.is_some() || long_link_seen {
                    return Err(io::Error::other(
                        "extension header without a following entry",
                    ));
                }
                return Ok(None);
            };
            let mut entry = entry?;
            match entry.header().entry_type() {
                EntryType::GNULongName => {
                    if long_name.is_some() {
                        return Err(io::Error::other("two long names for one entry"));
                    }
                    let mut name = read_extension(&mut entry)?;
                    while name.last() == Some(&0) {
                        name.pop();
                    }
                    long_name = Some(name);
                }
                // The link target of a link we are about to refuse anyway; not worth reading.
                EntryType::GNULongLink => long_link_seen = true,
                EntryType::XHeader => {
                    if pax.is_some() {
                        return Err(io::Error::other("two pax headers for one entry"));
                    }
                    pax = Some(read_extension(&mut entry)?);
                }
                EntryType::XGlobalHeader => {}
                _ => return resolve(entry, long_name, pax).map(Some),
            }
        }
    }

    fn read_extension<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Vec<u8>> {
        let size = entry.size();
        if size > MAX_EXTENSION_HEADER_BYTES {
            return Err(io::Error::other(format!(
                "extended header of {size} bytes is larger than {MAX_EXTENSION_HEADER_BYTES}"
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut data)?;
        if data.len() as u64 != size {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(data)
    }

    fn resolve<'a, R: Read>(
        entry: tar::Entry<'a, R>,
        long_name: Option<Vec<u8>>,
        pax: Option<Vec<u8>>,
    ) -> io::Result<Member<'a, R>> {
        let mut pax_path = None;
        let mut pax_sparse = false;
        if let Some(pax) = &pax {
            for record in tar::PaxExtensions::new(pax) {
                let record = record?;
                match record.key_bytes() {
                    b"path" => pax_path = Some(record.value_bytes().to_vec()),
                    b"size" => {
                        // In raw mode the tar crate finds the next header from the ustar size
                        // field. Go honours the pax size instead, so if the two disagree an
                        // archive could hide entries from one reader or the other.
                        let size = std::str::from_utf8(record.value_bytes())
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok());
                        if size != Some(entry.size()) {
                            return Err(io::Error::other("pax size disagrees with header size"));
                        }
                    }
                    key if key.starts_with(b"GNU.sparse.") => pax_sparse = true,
                    _ => {}
                }
            }
        }
        let path = match (long_name, pax_path) {
            (Some(long), Some(pax)) if long != pax => {
                return Err(io::Error::other("GNU long name and pax path disagree"));
            }
            (Some(name), _) | (None, Some(name)) => name,
            (None, None) => entry.header().path_bytes().into_owned(),
        };
        Ok(Member {
            entry,
            path,
            pax_sparse,
        })
    }

    fn kind<R: Read>(member: &Member<'_, R>) -> EntryKind {
        let header = member.entry.header();
        match header.entry_type() {
            // A sparse file expands holes to zeros that never pass through the decompressor, so
            // the byte counting would not see them.
            EntryType::Regular | EntryType::Continuous if member.pax_sparse => EntryKind::Special,
            // Pre-POSIX tars mark directories only by a trailing slash.
            EntryType::Regular | EntryType::Continuous if member.path.ends_with(b"/") => {
                EntryKind::Dir
            }
            EntryType::Regular | EntryType::Continuous => EntryKind::File {
                executable: header.mode().unwrap_or(0) & 0o111 != 0,
            },
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink | EntryType::Link => EntryKind::Link,
            _ => EntryKind::Special,
        }
    }

    pub(super) fn normalize<R: Read + Seek, W: Write>(
        input: &mut Input<'_, R>,
        start: u64,
        output: &mut HashingWriter<'_, W>,
        limits: &ArchiveLimits,
        selection: &Selection,
        meter: &Meter,
    ) -> Result<Plan, ArchiveError> {
        let err = |e| meter.error(e);

        // Pass 1: validate.
        let mut planner = Planner::new(limits, selection);
        // Multi-member gzip is accepted, as Go's gzip reader (and so Terraform) does.
        let mut archive = tar::Archive::new(Limited {
            inner: MultiGzDecoder::new(&mut *input),
            meter,
        });
        {
            let mut entries = archive.entries().map_err(err)?.raw(true);
            let mut index = 0;
            while let Some(mut member) = next_member(&mut entries).map_err(err)? {
                let this = index;
                index += 1;
                let kind = kind(&member);
                let declared = member.entry.size();
                // The data of an entry left out is read past by the tar reader, through the
                // size limit.
                let Some(admitted) = planner.admit(&member.path, kind, declared)? else {
                    continue;
                };
                let mtime = member.entry.header().mtime().unwrap_or(0);
                match kind {
                    EntryKind::File { executable } => {
                        let size = measure(&mut member.entry, meter)?;
                        if size != declared {
                            return Err(ArchiveError::Corrupt(format!(
                                "unexpected end of data in {}",
                                admitted.original
                            )));
                        }
                        planner.push(
                            this,
                            admitted,
                            PlannedKind::File { size, executable },
                            mtime,
                        );
                    }
                    // Links and special files are never admitted.
                    _ => planner.push(this, admitted, PlannedKind::Dir, mtime),
                }
            }
        }
        // Read on to the end of the gzip stream: the tar reader stops at the end-of-archive
        // marker, and only the gzip trailer's CRC tells a corrupted or truncated upload from a
        // good one. Whatever follows still counts against the size budget.
        measure(&mut archive.into_inner(), meter)?;
        let plan = planner.finish()?;

        // Pass 2: write.
        input
            .seek(SeekFrom::Start(start))
            .map_err(ArchiveError::Io)?;
        meter.reset();
        let decoder = MultiGzDecoder::new(&mut *input);
        let mut archive = tar::Archive::new(Limited {
            inner: decoder,
            meter,
        });
        let mut entries = archive.entries().map_err(err)?.raw(true);
        let mut builder = output_builder(&mut *output);
        let mut planned = plan.entries.iter().peekable();
        let mut index = 0;
        while let Some(member) = next_member(&mut entries).map_err(err)? {
            let this = index;
            index += 1;
            let Some(entry) = planned.next_if(|p| p.index == this) else {
                continue;
            };
            let mut data = Exact {
                inner: member.entry,
                remaining: match entry.kind {
                    PlannedKind::File { size, .. } => size,
                    PlannedKind::Dir => 0,
                },
            };
            append_planned(&mut builder, entry, &mut data).map_err(err)?;
            check_exact(&data, entry)?;
        }
        if planned.next().is_some() {
            return Err(ArchiveError::Corrupt(
                "archive changed between reads".to_string(),
            ));
        }
        builder
            .into_inner()
            .and_then(|gz| gz.finish())
            .map_err(err)?;
        Ok(plan)
    }
}

mod zip_file {
    use super::*;
    use zip::read::ZipFile;

    const S_IFMT: u32 = 0o170_000;
    const S_IFREG: u32 = 0o100_000;
    const S_IFDIR: u32 = 0o040_000;
    const S_IFLNK: u32 = 0o120_000;

    fn kind<R: Read>(file: &ZipFile<'_, R>) -> EntryKind {
        let mode = file.unix_mode().unwrap_or(0);
        let name_says_dir = file.name_raw().ends_with(b"/");
        // The whole type field is compared: the zip crate's own `is_symlink` tests bits, and a
        // socket (0o140000) shares the symlink's.
        match mode & S_IFMT {
            S_IFLNK => EntryKind::Link,
            S_IFDIR => EntryKind::Dir,
            0 | S_IFREG if name_says_dir => EntryKind::Dir,
            0 | S_IFREG => EntryKind::File {
                executable: mode & 0o111 != 0,
            },
            _ => EntryKind::Special,
        }
    }

    /// Unix seconds from the Info-ZIP extended timestamp if present, else from the DOS date
    /// and time, which carry no zone and are taken as UTC.
    fn mtime<R: Read>(file: &ZipFile<'_, R>) -> u64 {
        for field in file.extra_data_fields() {
            if let zip::ExtraField::ExtendedTimestamp(ts) = field {
                if let Some(t) = ts.mod_time() {
                    return u64::from(t);
                }
            }
        }
        match file.last_modified().filter(|t| t.is_valid()) {
            Some(t) => {
                let days = days_from_civil(
                    i64::from(t.year()),
                    i64::from(t.month()),
                    i64::from(t.day()),
                );
                let secs = days * 86_400
                    + i64::from(t.hour()) * 3_600
                    + i64::from(t.minute()) * 60
                    + i64::from(t.second());
                u64::try_from(secs).unwrap_or(0)
            }
            None => 0,
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month_from_march = (month + 9) % 12;
        let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    pub(super) fn normalize<R: Read + Seek, W: Write>(
        input: &mut Input<'_, R>,
        output: &mut HashingWriter<'_, W>,
        limits: &ArchiveLimits,
        selection: &Selection,
        meter: &Meter,
    ) -> Result<Plan, ArchiveError> {
        let zerr = |e| meter.zip_error(e);
        // The central directory is held in memory by the zip crate; its size is bounded by the
        // upload's, not by what the entries inflate to.
        let mut archive = zip::ZipArchive::new(&mut *input).map_err(zerr)?;

        // Pass 1: validate.
        let mut planner = Planner::new(limits, selection);
        for index in 0..archive.len() {
            let (name, kind, declared, mtime) = {
                let file = archive.by_index_raw(index).map_err(zerr)?;
                (
                    file.name_raw().to_vec(),
                    kind(&file),
                    file.size(),
                    mtime(&file),
                )
            };
            let admitted = planner.admit(&name, kind, declared)?;
            let mut size = 0;
            if let EntryKind::File { .. } = kind {
                let file = archive.by_index(index).map_err(zerr)?;
                // Read to the end so the zip crate checks the CRC. Files a selection leaves out
                // are read too, so that they count against the size limit as they do in a tar.
                size = measure(&mut Limited { inner: file, meter }, meter)?;
            }
            let Some(admitted) = admitted else {
                continue;
            };
            let planned = match kind {
                EntryKind::File { executable } => PlannedKind::File { size, executable },
                // A directory's data, if it has any, is never unpacked, so never read. Links
                // and special files are never admitted.
                _ => PlannedKind::Dir,
            };
            planner.push(index, admitted, planned, mtime);
        }
        let plan = planner.finish()?;

        // Pass 2: write.
        meter.reset();
        let err = |e| meter.error(e);
        let mut builder = output_builder(&mut *output);
        for entry in &plan.entries {
            match entry.kind {
                PlannedKind::Dir => {
                    append_planned(&mut builder, entry, io::empty()).map_err(err)?
                }
                PlannedKind::File { size, .. } => {
                    let file = archive.by_index(entry.index).map_err(zerr)?;
                    let mut data = Exact {
                        inner: Limited { inner: file, meter },
                        remaining: size,
                    };
                    append_planned(&mut builder, entry, &mut data).map_err(err)?;
                    check_exact(&data, entry)?;
                }
            }
        }
        builder
            .into_inner()
            .and_then(|gz| gz.finish())
            .map_err(err)?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use flate2::write::GzEncoder;
    use std::io::Cursor;

    /// 2024-01-02T03:04:06Z, the modification time every test entry gets.
    const MTIME: u64 = 1_704_164_646;
    /// The same instant as a DOS time and date, for zips.
    const DOS_TIME: u16 = (3 << 11) | (4 << 5) | (6 / 2);
    const DOS_DATE: u16 = ((2024 - 1980) << 9) | (1 << 5) | 2;

    /// Builds tar.gz inputs header by header, so that names and types the tar crate's own
    /// builder refuses (`../x`, `/abs`, devices) can be written too.
    struct TarGzBuilder {
        tar: Vec<u8>,
    }

    impl TarGzBuilder {
        fn new() -> Self {
            TarGzBuilder { tar: Vec::new() }
        }

        /// Appends a header with `name` copied verbatim into the name field, and `data`.
        fn raw(
            mut self,
            name: &[u8],
            entry_type: EntryType,
            mode: u32,
            link: Option<&str>,
            data: &[u8],
        ) -> Self {
            let mut header = tar::Header::new_ustar();
            let field = &mut header.as_old_mut().name;
            assert!(name.len() <= field.len(), "use long_name for {name:?}");
            field[..name.len()].copy_from_slice(name);
            header.set_entry_type(entry_type);
            header.set_mode(mode);
            header.set_size(data.len() as u64);
            header.set_mtime(MTIME);
            header.set_uid(1000);
            header.set_gid(1000);
            header.set_username("alice").unwrap();
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            self.tar.extend_from_slice(header.as_bytes());
            self.data(data)
        }

        fn data(mut self, data: &[u8]) -> Self {
            self.tar.extend_from_slice(data);
            let padding = (512 - data.len() % 512) % 512;
            self.tar.resize(self.tar.len() + padding, 0);
            self
        }

        fn file(self, name: &str, contents: &str) -> Self {
            self.raw(
                name.as_bytes(),
                EntryType::Regular,
                0o644,
                None,
                contents.as_bytes(),
            )
        }

        fn file_with_mode(self, name: &str, mode: u32, contents: &str) -> Self {
            self.raw(
                name.as_bytes(),
                EntryType::Regular,
                mode,
                None,
                contents.as_bytes(),
            )
        }

        fn dir(self, name: &str) -> Self {
            self.raw(name.as_bytes(), EntryType::Directory, 0o755, None, b"")
        }

        fn symlink(self, name: &str, target: &str) -> Self {
            self.raw(
                name.as_bytes(),
                EntryType::Symlink,
                0o777,
                Some(target),
                b"",
            )
        }

        fn hard_link(self, name: &str, target: &str) -> Self {
            self.raw(name.as_bytes(), EntryType::Link, 0o644, Some(target), b"")
        }

        fn special(self, name: &str, entry_type: EntryType) -> Self {
            self.raw(name.as_bytes(), entry_type, 0o644, None, b"")
        }

        /// A file whose name goes in a GNU long-name header.
        fn long_name(self, name: &str, contents: &str) -> Self {
            let mut long = name.as_bytes().to_vec();
            long.push(0);
            self.raw(b"././@LongLink", EntryType::GNULongName, 0o644, None, &long)
                .raw(
                    &name.as_bytes()[..100],
                    EntryType::Regular,
                    0o644,
                    None,
                    contents.as_bytes(),
                )
        }

        /// A pax extended header applying `records` to the next entry.
        fn pax(self, records: &[(&str, &[u8])]) -> Self {
            self.raw(
                b"PaxHeader",
                EntryType::XHeader,
                0o644,
                None,
                &pax_records(records),
            )
        }

        /// A pax global header, as `git archive` writes first.
        fn pax_global(self, records: &[(&str, &[u8])]) -> Self {
            self.raw(
                b"pax_global_header",
                EntryType::XGlobalHeader,
                0o666,
                None,
                &pax_records(records),
            )
        }

        /// The uncompressed tar, end-of-archive marker included.
        fn tar(mut self) -> Vec<u8> {
            self.tar.resize(self.tar.len() + 1024, 0);
            self.tar
        }

        fn build(self) -> Vec<u8> {
            gzip(&self.tar())
        }
    }

    fn pax_records(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in records {
            // "<len> <key>=<value>\n", where <len> counts itself.
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len += 1;
            }
            out.extend_from_slice(format!("{len} {key}=").as_bytes());
            out.extend_from_slice(value);
            out.push(b'\n');
        }
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Builds zips byte by byte, so that names, unix modes and declared sizes can be anything.
    struct ZipBuilder {
        entries: Vec<ZipEntry>,
    }

    struct ZipEntry {
        name: Vec<u8>,
        mode: u32,
        data: Vec<u8>,
        deflate: bool,
        declared_size: Option<u32>,
        crc: Option<u32>,
    }

    impl ZipBuilder {
        fn new() -> Self {
            ZipBuilder {
                entries: Vec::new(),
            }
        }

        fn entry(mut self, name: &[u8], mode: u32, data: &[u8]) -> Self {
            self.entries.push(ZipEntry {
                name: name.to_vec(),
                mode,
                data: data.to_vec(),
                deflate: true,
                declared_size: None,
                crc: None,
            });
            self
        }

        fn file(self, name: &str, contents: &str) -> Self {
            self.entry(name.as_bytes(), 0o100_644, contents.as_bytes())
        }

        fn dir(self, name: &str) -> Self {
            self.entry(name.as_bytes(), 0o040_755, b"")
        }

        /// Makes the last entry claim an uncompressed size it does not have.
        fn declare_size(mut self, size: u32) -> Self {
            self.entries.last_mut().unwrap().declared_size = Some(size);
            self
        }

        /// Makes the last entry carry a wrong CRC.
        fn bad_crc(mut self) -> Self {
            self.entries.last_mut().unwrap().crc = Some(0xdead_beef);
            self
        }

        fn build(self) -> Vec<u8> {
            let mut out = Vec::new();
            let mut central = Vec::new();
            for entry in &self.entries {
                let offset = out.len() as u32;
                let crc = entry.crc.unwrap_or_else(|| {
                    let mut crc = flate2::Crc::new();
                    crc.update(&entry.data);
                    crc.sum()
                });
                let (method, body) = if entry.deflate {
                    (8u16, deflate(&entry.data))
                } else {
                    (0u16, entry.data.clone())
                };
                let size = entry.declared_size.unwrap_or(entry.data.len() as u32);
                let common = |buf: &mut Vec<u8>| {
                    buf.extend_from_slice(&20u16.to_le_bytes()); // version needed
                    buf.extend_from_slice(&0u16.to_le_bytes()); // flags
                    buf.extend_from_slice(&method.to_le_bytes());
                    buf.extend_from_slice(&DOS_TIME.to_le_bytes());
                    buf.extend_from_slice(&DOS_DATE.to_le_bytes());
                    buf.extend_from_slice(&crc.to_le_bytes());
                    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    buf.extend_from_slice(&size.to_le_bytes());
                    buf.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
                    buf.extend_from_slice(&0u16.to_le_bytes()); // extra length
                };
                out.extend_from_slice(b"PK\x03\x04");
                common(&mut out);
                out.extend_from_slice(&entry.name);
                out.extend_from_slice(&body);

                central.extend_from_slice(b"PK\x01\x02");
                central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by unix
                common(&mut central);
                central.extend_from_slice(&0u16.to_le_bytes()); // comment length
                central.extend_from_slice(&0u16.to_le_bytes()); // disk
                central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
                central.extend_from_slice(&(entry.mode << 16).to_le_bytes());
                central.extend_from_slice(&offset.to_le_bytes());
                central.extend_from_slice(&entry.name);
            }
            let central_offset = out.len() as u32;
            out.extend_from_slice(&central);
            out.extend_from_slice(b"PK\x05\x06");
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&(self.entries.len() as u16).to_le_bytes());
            out.extend_from_slice(&(self.entries.len() as u16).to_le_bytes());
            out.extend_from_slice(&(central.len() as u32).to_le_bytes());
            out.extend_from_slice(&central_offset.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out
        }
    }

    fn run(
        input: &[u8],
        limits: &ArchiveLimits,
    ) -> Result<(NormalizedArchive, Vec<u8>), ArchiveError> {
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

    fn module() -> TarGzBuilder {
        TarGzBuilder::new()
            .file("main.tf", "resource \"x\" \"y\" {}\n")
            .file("README.md", "# m\n")
    }

    // ---- Happy paths -------------------------------------------------------------------------

    #[test]
    fn plain_root_tar_gz() {
        let input = module()
            .dir("modules/")
            .dir("modules/x/")
            .file("modules/x/main.tf", "variable \"v\" {}\n")
            .build();
        let (normalized, entries) = ok(&input);
        assert_eq!(
            entries,
            [
                "f 644 main.tf 20",
                "f 644 README.md 4",
                "d 755 modules/ 0",
                "d 755 modules/x/ 0",
                "f 644 modules/x/main.tf 16",
            ]
        );
        assert_eq!(normalized.files, 3);
        assert_eq!(normalized.unpacked_bytes, 20 + 4 + 16);
        assert_eq!(normalized.stripped_prefix, None);
    }

    #[test]
    fn github_style_top_folder_is_stripped() {
        // What `git archive --prefix=repo-1.2.0/` and GitHub's release tarballs look like.
        let input = TarGzBuilder::new()
            .pax_global(&[("comment", b"0123456789abcdef0123456789abcdef01234567")])
            .dir("repo-1.2.0/")
            .file("repo-1.2.0/main.tf", "")
            .dir("repo-1.2.0/modules/")
            .dir("repo-1.2.0/modules/x/")
            .file("repo-1.2.0/modules/x/main.tf", "")
            .build();
        let (normalized, entries) = ok(&input);
        assert_eq!(
            entries,
            [
                "f 644 main.tf 0",
                "d 755 modules/ 0",
                "d 755 modules/x/ 0",
                "f 644 modules/x/main.tf 0",
            ]
        );
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("repo-1.2.0"));
    }

    #[test]
    fn top_folder_without_its_own_entry_is_stripped() {
        let input = TarGzBuilder::new()
            .file("mod/main.tf", "")
            .file("mod/outputs.tf.json", "{}")
            .build();
        let (normalized, entries) = ok(&input);
        assert_eq!(entries, ["f 644 main.tf 0", "f 644 outputs.tf.json 2"]);
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("mod"));
    }

    #[test]
    fn folder_is_kept_when_root_has_terraform_files() {
        let input = TarGzBuilder::new().file("main.tf", "").build();
        assert_eq!(ok(&input).0.stripped_prefix, None);
        // A lone top-level folder next to a root .tf is a submodule, not a wrapper.
        let input = TarGzBuilder::new()
            .dir("modules/")
            .file("modules/main.tf", "")
            .file("main.tf", "")
            .build();
        let (normalized, entries) = ok(&input);
        assert_eq!(normalized.stripped_prefix, None);
        assert_eq!(
            entries,
            [
                "d 755 modules/ 0",
                "f 644 modules/main.tf 0",
                "f 644 main.tf 0"
            ]
        );
    }

    #[test]
    fn dot_slash_prefixes_are_removed() {
        let input = TarGzBuilder::new()
            .dir("./")
            .file("./main.tf", "")
            .dir("./sub/")
            .file("./sub/./x.tf", "")
            .build();
        let (normalized, entries) = ok(&input);
        assert_eq!(
            entries,
            ["f 644 main.tf 0", "d 755 sub/ 0", "f 644 sub/x.tf 0"]
        );
        assert_eq!(normalized.stripped_prefix, None);
    }

    #[test]
    fn dot_slash_folder_is_stripped() {
        let input = TarGzBuilder::new()
            .dir("./")
            .dir("./mod/")
            .file("./mod/main.tf", "")
            .build();
        let (normalized, entries) = ok(&input);
        assert_eq!(entries, ["f 644 main.tf 0"]);
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("mod"));
    }

    #[test]
    fn pax_global_header_at_root_is_skipped() {
        let input = TarGzBuilder::new()
            .pax_global(&[("comment", b"abc")])
            .file("main.tf", "")
            .build();
        let (normalized, entries) = ok(&input);
        assert_eq!(entries, ["f 644 main.tf 0"]);
        assert_eq!(normalized.files, 1);
    }

    #[test]
    fn modes_keep_only_the_executable_bit() {
        let input = module()
            .file_with_mode("run.sh", 0o700, "#!/bin/sh\n")
            .file_with_mode("setuid", 0o4755, "")
            .file_with_mode("private", 0o600, "")
            .file_with_mode("world", 0o666, "")
            .raw(b"d/", EntryType::Directory, 0o700, None, b"")
            .build();
        let (_, entries) = ok(&input);
        assert_eq!(
            entries,
            [
                "f 644 main.tf 20",
                "f 644 README.md 4",
                "f 755 run.sh 10",
                "f 755 setuid 0",
                "f 644 private 0",
                "f 644 world 0",
                "d 755 d/ 0",
            ]
        );
    }

    #[test]
    fn long_names_from_gnu_and_pax_headers() {
        let gnu = format!("modules/{}/main.tf", "a".repeat(120));
        let pax = format!("modules/{}/vars.tf", "b".repeat(120));
        let input = module()
            .long_name(&gnu, "x")
            .pax(&[("path", pax.as_bytes()), ("mtime", b"1704164646.5")])
            .file("truncated-name-ignored", "yz")
            .build();
        let (_, entries) = ok(&input);
        assert_eq!(
            entries,
            [
                "f 644 main.tf 20".to_string(),
                "f 644 README.md 4".to_string(),
                format!("f 644 {gnu} 1"),
                format!("f 644 {pax} 2"),
            ]
        );
    }

    #[test]
    fn output_content_and_order_are_preserved() {
        let input = TarGzBuilder::new()
            .file("z.tf", "zzz")
            .file("a.tf", "aaaa")
            .build();
        let (_, output) = run(&input, &ArchiveLimits::default()).unwrap();
        let mut archive = tar::Archive::new(GzDecoder::new(&output[..]));
        let contents: Vec<(String, String)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                (e.path().unwrap().display().to_string(), s)
            })
            .collect();
        assert_eq!(
            contents,
            [
                ("z.tf".into(), "zzz".into()),
                ("a.tf".into(), "aaaa".into())
            ]
        );
    }

    #[test]
    fn output_is_deterministic_across_formats() {
        let tar = TarGzBuilder::new()
            .dir("m/")
            .file("m/main.tf", "a")
            .file_with_mode("m/x.sh", 0o755, "b")
            .build();
        let zip = ZipBuilder::new()
            .dir("m/")
            .file("m/main.tf", "a")
            .entry(b"m/x.sh", 0o100_755, b"b")
            .build();
        let (from_tar, tar_out) = run(&tar, &ArchiveLimits::default()).unwrap();
        let (from_zip, zip_out) = run(&zip, &ArchiveLimits::default()).unwrap();
        assert_eq!(tar_out, zip_out);
        assert_eq!(from_tar, from_zip);
        // And the same input twice gives the same bytes.
        assert_eq!(run(&tar, &ArchiveLimits::default()).unwrap().1, tar_out);
    }

    #[test]
    fn zip_written_by_the_zip_crate() {
        use zip::write::SimpleFileOptions;
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::from_date_and_time(2024, 1, 2, 3, 4, 6).unwrap());
        writer.add_directory("mod/", options).unwrap();
        writer.start_file("mod/main.tf", options).unwrap();
        writer.write_all(b"locals {}\n").unwrap();
        writer
            .start_file("mod/hook.sh", options.unix_permissions(0o755))
            .unwrap();
        writer.write_all(b"#!/bin/sh\n").unwrap();
        writer.add_directory("mod/modules/x/", options).unwrap();
        writer
            .start_file(
                "mod/modules/x/main.tf",
                options.compression_method(zip::CompressionMethod::Stored),
            )
            .unwrap();
        writer.write_all(b"# x\n").unwrap();
        let input = writer.finish().unwrap().into_inner();

        let (normalized, entries) = ok(&input);
        assert_eq!(
            entries,
            [
                "f 644 main.tf 10",
                "f 755 hook.sh 10",
                "d 755 modules/x/ 0",
                "f 644 modules/x/main.tf 4",
            ]
        );
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("mod"));
        assert_eq!(normalized.files, 3);
        assert_eq!(normalized.unpacked_bytes, 24);
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let tar = module().tar();
        let (head, tail) = tar.split_at(512 * 3);
        let mut input = gzip(head);
        input.extend(gzip(tail));
        let (_, entries) = ok(&input);
        assert_eq!(entries, ["f 644 main.tf 20", "f 644 README.md 4"]);
    }

    #[test]
    fn input_is_read_from_its_current_position() {
        let mut input = b"junk".to_vec();
        input.extend(module().build());
        let mut cursor = Cursor::new(input);
        cursor.seek(SeekFrom::Start(4)).unwrap();
        let mut output = Vec::new();
        let normalized = normalize_archive(cursor, &mut output, &ArchiveLimits::default()).unwrap();
        assert_eq!(normalized.files, 2);
    }

    #[test]
    fn limits_allow_exactly_the_maximum() {
        let input = module().build();
        let tar_len = module().tar().len() as u64;
        let limits = ArchiveLimits {
            max_unpacked_bytes: tar_len,
            max_files: 2,
        };
        assert!(run(&input, &limits).is_ok());
    }

    #[test]
    fn defaults() {
        let limits = ArchiveLimits::default();
        assert_eq!(limits.max_unpacked_bytes, 512 * 1024 * 1024);
        assert_eq!(limits.max_files, 10_000);
    }

    #[test]
    fn dos_dates_convert_to_unix_time() {
        assert_eq!(zip_file::days_from_civil(1970, 1, 1), 0);
        assert_eq!(zip_file::days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            zip_file::days_from_civil(2024, 1, 2) * 86_400 + 11_046,
            MTIME as i64
        );
    }

    // ---- Not an archive / corrupt ------------------------------------------------------------

    #[test]
    fn rejects_what_is_not_an_archive() {
        let msg = "body is not a tar.gz or zip archive";
        assert_eq!(fail(b""), msg);
        assert_eq!(fail(b"\x1f"), msg);
        assert_eq!(fail(b"resource \"x\" \"y\" {}"), msg);
        assert_eq!(fail(&module().tar()), msg, "uncompressed tar");
        assert_eq!(fail(b"BZh91AY&SY"), msg, "bzip2");
        assert_eq!(fail(b"\xfd7zXZ\x00"), msg, "xz");
    }

    #[test]
    fn rejects_corrupt_gzip() {
        assert_eq!(
            fail(b"\x1f\x8b\x08\x00garbage-garbage-garbage"),
            "archive is corrupt: corrupt deflate stream"
        );
    }

    #[test]
    fn rejects_truncated_gzip() {
        let input = module().build();
        assert_eq!(
            fail(&input[..input.len() - 6]),
            "archive is corrupt: unexpected end of file"
        );
    }

    #[test]
    fn rejects_gzip_that_is_not_a_tar() {
        assert_eq!(
            fail(&gzip(b"just some text\n")),
            "archive is corrupt: failed to read entire block"
        );
        let mut tar = module().tar();
        tar[0] ^= 1; // the header checksum no longer matches
        assert_eq!(
            fail(&gzip(&tar)),
            "archive is corrupt: archive header checksum mismatch"
        );
    }

    #[test]
    fn rejects_tar_truncated_inside_a_file() {
        let tar = module().tar();
        assert_eq!(
            fail(&gzip(&tar[..520])),
            "archive is corrupt: unexpected end of data in main.tf"
        );
    }

    #[test]
    fn rejects_corrupt_zip() {
        assert_eq!(
            fail(b"PK\x03\x04 this is not really a zip"),
            "archive is corrupt: invalid Zip archive: Could not find EOCD"
        );
    }

    #[test]
    fn rejects_zip_with_bad_crc() {
        let input = ZipBuilder::new().file("main.tf", "abc").bad_crc().build();
        assert_eq!(fail(&input), "archive is corrupt: Invalid checksum");
    }

    #[test]
    fn rejects_oversized_extension_header() {
        let input = TarGzBuilder::new()
            .raw(
                b"././@LongLink",
                EntryType::GNULongName,
                0o644,
                None,
                &vec![b'a'; MAX_EXTENSION_HEADER_BYTES as usize + 1],
            )
            .file("main.tf", "")
            .build();
        assert_eq!(
            fail(&input),
            "archive is corrupt: extended header of 1048577 bytes is larger than 1048576"
        );
    }

    #[test]
    fn rejects_pax_size_that_disagrees_with_the_header() {
        let input = TarGzBuilder::new()
            .pax(&[("size", b"0")])
            .file("main.tf", "abc")
            .build();
        assert_eq!(
            fail(&input),
            "archive is corrupt: pax size disagrees with header size"
        );
    }

    // ---- Paths -------------------------------------------------------------------------------

    #[test]
    fn rejects_absolute_paths() {
        let input = module().file("/etc/cron.d/evil", "").build();
        assert_eq!(
            fail(&input),
            "absolute path found in archive: /etc/cron.d/evil"
        );
        let input = ZipBuilder::new()
            .file("main.tf", "")
            .file("C:/Windows/evil.dll", "")
            .build();
        assert_eq!(
            fail(&input),
            "absolute path found in archive: C:/Windows/evil.dll"
        );
    }

    #[test]
    fn rejects_parent_dir_components() {
        let input = module().file("../evil.tf", "").build();
        assert_eq!(
            fail(&input),
            "path with a `..` component found in archive: ../evil.tf"
        );
        let input = ZipBuilder::new()
            .file("main.tf", "")
            .file("a/../../b", "")
            .build();
        assert_eq!(
            fail(&input),
            "path with a `..` component found in archive: a/../../b"
        );
        // Through a pax path, which the name field checks never see.
        let input = module()
            .pax(&[("path", b"x/../../evil")])
            .file("innocent", "")
            .build();
        assert_eq!(
            fail(&input),
            "path with a `..` component found in archive: x/../../evil"
        );
    }

    #[test]
    fn rejects_invalid_paths() {
        let input = module().file("a\\..\\evil.tf", "").build();
        assert_eq!(fail(&input), "invalid path in archive: a\\..\\evil.tf");
        let input = module()
            .raw(b"caf\xe9.tf", EntryType::Regular, 0o644, None, b"")
            .build();
        assert_eq!(fail(&input), "invalid path in archive: caf\u{fffd}.tf");
        let input = module()
            .pax(&[("path", b"evil.tf\0.txt")])
            .file("x", "")
            .build();
        assert_eq!(fail(&input), "invalid path in archive: evil.tf\\u{0}.txt");
        let input = ZipBuilder::new()
            .file("main.tf", "")
            .entry(b"\xff\xfe", 0o100_644, b"")
            .build();
        assert_eq!(fail(&input), "invalid path in archive: \u{fffd}\u{fffd}");
        // A file cannot be the root directory.
        let input = module().file(".", "x").build();
        assert_eq!(fail(&input), "invalid path in archive: .");
    }

    // ---- Entry types -------------------------------------------------------------------------

    #[test]
    fn rejects_symlinks() {
        let input = module().symlink("passwd", "/etc/passwd").build();
        assert_eq!(
            fail(&input),
            "unexpected symlink or hard link found: passwd"
        );
        let input = ZipBuilder::new()
            .file("main.tf", "")
            .entry(b"passwd", 0o120_777, b"/etc/passwd")
            .build();
        assert_eq!(
            fail(&input),
            "unexpected symlink or hard link found: passwd"
        );
    }

    #[test]
    fn rejects_hard_links() {
        let input = module().hard_link("shadow", "/etc/shadow").build();
        assert_eq!(
            fail(&input),
            "unexpected symlink or hard link found: shadow"
        );
    }

    #[test]
    fn rejects_special_files() {
        let msg = |p: &str| format!("unexpected special file (device, fifo or other) found: {p}");
        for (name, entry_type) in [
            ("fifo", EntryType::Fifo),
            ("tty", EntryType::Char),
            ("sda", EntryType::Block),
            ("sparse", EntryType::GNUSparse),
            ("volume", EntryType::new(b'V')),
        ] {
            let input = module().special(name, entry_type).build();
            assert_eq!(fail(&input), msg(name), "{entry_type:?}");
        }
        let input = module()
            .pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
            .file("holes", "")
            .build();
        assert_eq!(fail(&input), msg("holes"));
        for (name, mode) in [
            ("fifo", 0o010_644),
            ("null", 0o020_666),
            ("sock", 0o140_755),
        ] {
            let input = ZipBuilder::new()
                .file("main.tf", "")
                .entry(name.as_bytes(), mode, b"")
                .build();
            assert_eq!(fail(&input), msg(name), "{mode:o}");
        }
    }

    // ---- Duplicates --------------------------------------------------------------------------

    #[test]
    fn rejects_duplicate_paths() {
        let input = module().file("./main.tf", "").build();
        assert_eq!(fail(&input), "duplicate path in archive: ./main.tf");
        let input = ZipBuilder::new()
            .file("main.tf", "")
            .file("./main.tf", "")
            .build();
        assert_eq!(fail(&input), "duplicate path in archive: ./main.tf");
        let input = module().dir("sub/").dir("sub").build();
        assert_eq!(fail(&input), "duplicate path in archive: sub");
    }

    #[test]
    fn rejects_a_path_that_is_both_file_and_directory() {
        let input = module().file("x", "").file("x/y.tf", "").build();
        assert_eq!(fail(&input), "duplicate path in archive: x/y.tf");
        let input = module().file("x/y.tf", "").file("x", "").build();
        assert_eq!(fail(&input), "duplicate path in archive: x");
    }

    // ---- Limits ------------------------------------------------------------------------------

    const ONE_MB: ArchiveLimits = ArchiveLimits {
        max_unpacked_bytes: 1024 * 1024,
        max_files: DEFAULT_MAX_FILES,
    };

    #[test]
    fn rejects_gzip_bomb() {
        let input = module()
            .raw(
                b"zeros",
                EntryType::Regular,
                0o644,
                None,
                &vec![0; 20 << 20],
            )
            .build();
        assert!(input.len() < 100 * 1024);
        assert_eq!(
            fail_with(&input, &ONE_MB),
            "archive unpacks to more than 1048576 bytes"
        );
    }

    #[test]
    fn rejects_bomb_hidden_behind_the_end_of_the_tar() {
        // Every tar header is small and honest; the bytes are after the end-of-archive marker,
        // where only counting what the decompressor emits can see them.
        let mut tar = module().tar();
        tar.resize(tar.len() + (20 << 20), 0);
        let input = gzip(&tar);
        assert_eq!(
            fail_with(&input, &ONE_MB),
            "archive unpacks to more than 1048576 bytes"
        );
    }

    #[test]
    fn rejects_zip_entry_lying_about_its_size() {
        let input = ZipBuilder::new()
            .file("main.tf", "")
            .entry(b"zeros", 0o100_644, &vec![0; 20 << 20])
            .declare_size(10)
            .build();
        assert!(input.len() < 100 * 1024);
        assert_eq!(
            fail_with(&input, &ONE_MB),
            "archive unpacks to more than 1048576 bytes"
        );
    }

    #[test]
    fn rejects_many_small_files_over_the_size_limit() {
        let limits = ArchiveLimits {
            max_unpacked_bytes: 10,
            max_files: DEFAULT_MAX_FILES,
        };
        let input = ZipBuilder::new()
            .file("main.tf", "123456")
            .file("b.tf", "123456")
            .build();
        assert_eq!(
            fail_with(&input, &limits),
            "archive unpacks to more than 10 bytes"
        );
    }

    #[test]
    fn rejects_too_many_entries() {
        let limits = ArchiveLimits {
            max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
            max_files: 3,
        };
        let input = module().dir("d/").file("d/x", "").build();
        assert_eq!(
            fail_with(&input, &limits),
            "archive holds more than 3 entries"
        );
        let input = ZipBuilder::new()
            .file("a.tf", "")
            .file("b.tf", "")
            .file("c.tf", "")
            .file("d.tf", "")
            .build();
        assert_eq!(
            fail_with(&input, &limits),
            "archive holds more than 3 entries"
        );
    }

    // ---- Empty / no Terraform ----------------------------------------------------------------

    #[test]
    fn rejects_empty_archives() {
        assert_eq!(fail(&TarGzBuilder::new().build()), "archive is empty");
        assert_eq!(fail(&ZipBuilder::new().build()), "archive is empty");
        let only_dirs = TarGzBuilder::new().dir("./").dir("a/").dir("a/b/").build();
        assert_eq!(fail(&only_dirs), "archive is empty");
        let only_dirs = ZipBuilder::new().dir("a/").build();
        assert_eq!(fail(&only_dirs), "archive is empty");
    }

    #[test]
    fn rejects_archives_without_root_terraform_files() {
        let msg = "archive has no .tf or .tf.json file at its module root";
        assert_eq!(
            fail(&TarGzBuilder::new().file("README.md", "").build()),
            msg
        );
        // Two top-level folders: nothing to strip.
        let input = TarGzBuilder::new()
            .file("a/main.tf", "")
            .file("b/main.tf", "")
            .build();
        assert_eq!(fail(&input), msg);
        // Only one level is stripped.
        let input = TarGzBuilder::new().file("repo/src/main.tf", "").build();
        assert_eq!(fail(&input), msg);
        // Terraform skips hidden files.
        assert_eq!(fail(&TarGzBuilder::new().file(".main.tf", "").build()), msg);
        assert_eq!(
            fail(&ZipBuilder::new().file("main.tf.bak", "").build()),
            msg
        );
    }

    // ---- Subdirectory selection --------------------------------------------------------------

    /// What GitHub serves for `/repos/o/repo/tarball/<sha>`: a pax global header holding the
    /// commit id, then everything under one `repo-<sha>/` folder.
    fn github_tarball() -> TarGzBuilder {
        TarGzBuilder::new()
            .pax_global(&[("comment", b"abc1230000000000000000000000000000000000")])
            .dir("repo-abc123/")
            .file("repo-abc123/main.tf", "module \"sub\" {}\n")
            .file("repo-abc123/README.md", "# repo\n")
            .dir("repo-abc123/modules/")
            .dir("repo-abc123/modules/sub/")
            .file("repo-abc123/modules/sub/main.tf", "variable \"v\" {}\n")
            .dir("repo-abc123/modules/sub/scripts/")
            .file_with_mode(
                "repo-abc123/modules/sub/scripts/run.sh",
                0o755,
                "#!/bin/sh\n",
            )
    }

    const SUB_ENTRIES: [&str; 3] = [
        "f 644 main.tf 16",
        "d 755 scripts/ 0",
        "f 755 scripts/run.sh 10",
    ];

    #[test]
    fn subdir_glob_selects_a_module_of_a_github_tarball() {
        let (normalized, entries) = ok_subdir(&github_tarball().build(), "*/modules/sub");
        assert_eq!(entries, SUB_ENTRIES);
        assert_eq!(
            normalized.stripped_prefix.as_deref(),
            Some("repo-abc123/modules/sub")
        );
        assert_eq!(normalized.files, 2);
        assert_eq!(normalized.unpacked_bytes, 16 + 10);
    }

    #[test]
    fn subdir_literal_path_selects_the_same_module() {
        let input = github_tarball().build();
        let (_, glob) = run_subdir(&input, &ArchiveLimits::default(), "*/modules/sub").unwrap();
        for select in [
            "repo-abc123/modules/sub",
            "/repo-abc123/modules/sub/",
            "./repo-abc123//./modules/sub",
        ] {
            let (normalized, output) =
                run_subdir(&input, &ArchiveLimits::default(), select).unwrap();
            assert_eq!(output, glob, "{select}");
            assert_eq!(
                normalized.stripped_prefix.as_deref(),
                Some("repo-abc123/modules/sub"),
                "{select}"
            );
        }
    }

    #[test]
    fn subdir_star_selects_the_whole_repository() {
        let (normalized, entries) = ok_subdir(&github_tarball().build(), "*");
        assert_eq!(
            entries,
            [
                "f 644 main.tf 16",
                "f 644 README.md 7",
                "d 755 modules/ 0",
                "d 755 modules/sub/ 0",
                "f 644 modules/sub/main.tf 16",
                "d 755 modules/sub/scripts/ 0",
                "f 755 modules/sub/scripts/run.sh 10",
            ]
        );
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("repo-abc123"));
    }

    #[test]
    fn subdir_empty_pattern_is_the_archive_root() {
        let input = github_tarball().build();
        let whole = run(&input, &ArchiveLimits::default()).unwrap();
        assert_eq!(whole.0.stripped_prefix.as_deref(), Some("repo-abc123"));
        for select in ["", ".", "/", "./"] {
            assert_eq!(
                run_subdir(&input, &ArchiveLimits::default(), select).unwrap(),
                whole,
                "{select:?}"
            );
        }
        // Including its refusals.
        let input = module().symlink("passwd", "/etc/passwd").build();
        assert_eq!(
            fail_subdir(&input, ""),
            "unexpected symlink or hard link found: passwd"
        );
    }

    #[test]
    fn subdir_selection_is_not_stripped_further() {
        // The caller says where the module is: a lone folder inside it is part of the module,
        // not a wrapper, so there is no root .tf file.
        assert_eq!(
            fail_subdir(&github_tarball().build(), "*/modules"),
            "archive has no .tf or .tf.json file at its module root"
        );
    }

    #[test]
    fn subdir_that_does_not_exist() {
        let input = github_tarball().build();
        assert_eq!(
            fail_subdir(&input, "*/modules/other"),
            "the archive has no directory \"*/modules/other\""
        );
        // The top folder is not skipped for the caller.
        assert_eq!(
            fail_subdir(&input, "modules/sub"),
            "the archive has no directory \"modules/sub\""
        );
        assert_eq!(
            fail_subdir(&input, "*/modules/sub/main.tf/x"),
            "the archive has no directory \"*/modules/sub/main.tf/x\""
        );
        // A file is not a directory.
        assert_eq!(
            fail_subdir(&input, "*/modules/sub/main.tf"),
            "the archive has no directory \"*/modules/sub/main.tf\""
        );
        // Nor is a link, which is then not refused: it is not in any selected directory.
        let input = TarGzBuilder::new()
            .dir("repo/")
            .file("repo/main.tf", "")
            .symlink("repo/sub", "../elsewhere")
            .build();
        assert_eq!(
            fail_subdir(&input, "*/sub"),
            "the archive has no directory \"*/sub\""
        );
        assert_eq!(
            fail_subdir(&TarGzBuilder::new().build(), "*"),
            "the archive has no directory \"*\""
        );
    }

    #[test]
    fn subdir_matching_several_directories() {
        let input = TarGzBuilder::new()
            .pax_global(&[("comment", b"abc")])
            .dir("a/")
            .file("a/main.tf", "")
            .dir("b/")
            .build();
        assert_eq!(
            fail_subdir(&input, "*"),
            "the archive has more than one directory matching \"*\""
        );
        // Directories without entries of their own count too; files of a matching name do not.
        let input = TarGzBuilder::new()
            .file("main.tf", "")
            .file("a/modules/sub/main.tf", "")
            .file("b/modules/sub/main.tf", "")
            .file("c/modules/sub", "")
            .build();
        assert_eq!(
            fail_subdir(&input, "*/modules/sub"),
            "the archive has more than one directory matching \"*/modules/sub\""
        );
        let (normalized, entries) = ok_subdir(&input, "a/*/sub");
        assert_eq!(entries, ["f 644 main.tf 0"]);
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("a/modules/sub"));
        // Only "c/modules/sub" is a file, so `*/*/sub` still matches two directories...
        assert_eq!(
            fail_subdir(&input, "*/*/sub"),
            "the archive has more than one directory matching \"*/*/sub\""
        );
        // ...while "c/modules" is the one directory holding no directory "sub".
        assert_eq!(
            fail_subdir(&input, "c/*/sub"),
            "the archive has no directory \"c/*/sub\""
        );
    }

    #[test]
    fn subdir_patterns_that_are_refused() {
        let input = github_tarball().build();
        let cases = [
            ("..", "a `..` component is not allowed"),
            ("*/../x", "a `..` component is not allowed"),
            (
                "*\\modules",
                "a backslash is not allowed; separate directories with `/`",
            ),
            ("mod\0ules", "a NUL byte is not allowed"),
            (
                "repo-*/modules",
                "only a whole component can be a wildcard (`*`, not `foo*`)",
            ),
            (
                "*/modules/su?",
                "only a whole component can be a wildcard (`*`, not `foo*`)",
            ),
            (
                "[r]epo-abc123",
                "only a whole component can be a wildcard (`*`, not `foo*`)",
            ),
        ];
        for (select, reason) in cases {
            assert_eq!(
                fail_subdir(&input, select),
                format!("invalid subdirectory {select:?}: {reason}")
            );
        }
        assert_eq!(
            fail_subdir(&input, "a/../b"),
            "invalid subdirectory \"a/../b\": a `..` component is not allowed"
        );
        // Refused before the body is even looked at.
        assert_eq!(
            fail_subdir(b"not an archive", ".."),
            "invalid subdirectory \"..\": a `..` component is not allowed"
        );
    }

    #[test]
    fn subdir_ignores_links_special_files_and_duplicates_outside_it() {
        let input = github_tarball()
            .dir("repo-abc123/examples/")
            .symlink("repo-abc123/examples/sub", "../modules/sub")
            .hard_link("repo-abc123/examples/hard", "repo-abc123/main.tf")
            .special("repo-abc123/examples/fifo", EntryType::Fifo)
            .file("repo-abc123/examples/main.tf", "")
            .file("repo-abc123/examples/./main.tf", "")
            .symlink("repo-abc123/modules/sub-link", "sub")
            .symlink("LICENSE", "repo-abc123/LICENSE")
            .build();
        for select in ["*/modules/sub", "repo-abc123/modules/sub"] {
            let (_, entries) = ok_subdir(&input, select);
            assert_eq!(entries, SUB_ENTRIES, "{select}");
        }
        // Without a selection they are all in the module.
        assert_eq!(
            fail(&input),
            "unexpected symlink or hard link found: repo-abc123/examples/sub"
        );
        // A link of a matching name is no directory, so `*` still matches only one.
        let input = TarGzBuilder::new()
            .symlink("b/sub", "../a/sub")
            .file("a/sub/main.tf", "")
            .build();
        let (normalized, entries) = ok_subdir(&input, "*/sub");
        assert_eq!(entries, ["f 644 main.tf 0"]);
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("a/sub"));
    }

    #[test]
    fn subdir_refuses_links_special_files_and_duplicates_inside_it() {
        let link = github_tarball()
            .symlink("repo-abc123/modules/sub/scripts/passwd", "/etc/passwd")
            .build();
        let special = github_tarball()
            .special("repo-abc123/modules/sub/tty", EntryType::Char)
            .build();
        let duplicate = github_tarball()
            .file("repo-abc123/modules/sub/./main.tf", "")
            .build();
        // A file where the selected directory is.
        let file_and_dir = github_tarball().file("repo-abc123/modules/sub", "").build();
        // A link where the selected directory is, which entries are then written through.
        let link_as_dir = TarGzBuilder::new()
            .symlink("repo/sub", "/etc")
            .file("repo/sub/main.tf", "")
            .build();
        for select in ["*/modules/sub", "repo-abc123/modules/sub"] {
            assert_eq!(
                fail_subdir(&link, select),
                "unexpected symlink or hard link found: repo-abc123/modules/sub/scripts/passwd",
                "{select}"
            );
            assert_eq!(
                fail_subdir(&special, select),
                "unexpected special file (device, fifo or other) found: \
                 repo-abc123/modules/sub/tty",
                "{select}"
            );
            assert_eq!(
                fail_subdir(&duplicate, select),
                "duplicate path in archive: repo-abc123/modules/sub/./main.tf",
                "{select}"
            );
            assert_eq!(
                fail_subdir(&file_and_dir, select),
                "duplicate path in archive: repo-abc123/modules/sub",
                "{select}"
            );
        }
        for select in ["*/sub", "repo/sub"] {
            assert_eq!(
                fail_subdir(&link_as_dir, select),
                "unexpected symlink or hard link found: repo/sub",
                "{select}"
            );
        }
        // A link is refused even when it is all the selected directory holds.
        let input = TarGzBuilder::new()
            .file("repo/main.tf", "")
            .symlink("repo/sub/main.tf", "../main.tf")
            .build();
        assert_eq!(
            fail_subdir(&input, "*/sub"),
            "unexpected symlink or hard link found: repo/sub/main.tf"
        );
    }

    #[test]
    fn subdir_still_refuses_hostile_names_outside_it() {
        let cases: [(TarGzBuilder, &str); 4] = [
            (
                github_tarball().file("repo-abc123/examples/../../../evil", ""),
                "path with a `..` component found in archive: repo-abc123/examples/../../../evil",
            ),
            (
                github_tarball().symlink("../evil", "/etc/passwd"),
                "path with a `..` component found in archive: ../evil",
            ),
            (
                github_tarball().file("/etc/cron.d/evil", ""),
                "absolute path found in archive: /etc/cron.d/evil",
            ),
            (
                github_tarball().raw(b"caf\xe9", EntryType::Regular, 0o644, None, b""),
                "invalid path in archive: caf\u{fffd}",
            ),
        ];
        for (input, msg) in cases {
            assert_eq!(fail_subdir(&input.build(), "*/modules/sub"), msg);
        }
        let input = ZipBuilder::new()
            .file("repo/modules/sub/main.tf", "")
            .file("repo/../../evil", "")
            .build();
        assert_eq!(
            fail_subdir(&input, "*/modules/sub"),
            "path with a `..` component found in archive: repo/../../evil"
        );
    }

    #[test]
    fn subdir_limits_count_entries_left_out() {
        // The tarball has 8 entries, 3 of them in the module.
        let input = github_tarball().build();
        let limits = ArchiveLimits {
            max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
            max_files: 7,
        };
        assert_eq!(
            fail_subdir_with(&input, &limits, "*/modules/sub"),
            "archive holds more than 7 entries"
        );
        let limits = ArchiveLimits {
            max_files: 8,
            ..limits
        };
        assert!(run_subdir(&input, &limits, "*/modules/sub").is_ok());

        let zeros = vec![0; 20 << 20];
        let tar = github_tarball()
            .raw(
                b"repo-abc123/zeros",
                EntryType::Regular,
                0o644,
                None,
                &zeros,
            )
            .build();
        let zip = ZipBuilder::new()
            .file("repo/modules/sub/main.tf", "")
            .entry(b"repo/zeros", 0o100_644, &zeros)
            .declare_size(10)
            .build();
        assert!(tar.len() < 100 * 1024 && zip.len() < 100 * 1024);
        assert_eq!(
            fail_subdir_with(&tar, &ONE_MB, "*/modules/sub"),
            "archive unpacks to more than 1048576 bytes"
        );
        assert_eq!(
            fail_subdir_with(&zip, &ONE_MB, "*/modules/sub"),
            "archive unpacks to more than 1048576 bytes"
        );
    }

    #[test]
    fn subdir_of_a_zip() {
        let input = ZipBuilder::new()
            .dir("repo-abc123/")
            .file("repo-abc123/main.tf", "module \"sub\" {}\n")
            .entry(b"repo-abc123/examples/sub", 0o120_777, b"../modules/sub")
            .dir("repo-abc123/modules/sub/")
            .file("repo-abc123/modules/sub/main.tf", "variable \"v\" {}\n")
            .dir("repo-abc123/modules/sub/scripts/")
            .entry(
                b"repo-abc123/modules/sub/scripts/run.sh",
                0o100_755,
                b"#!/bin/sh\n",
            )
            .build();
        let (normalized, output) =
            run_subdir(&input, &ArchiveLimits::default(), "*/modules/sub").unwrap();
        assert_eq!(list(&output), SUB_ENTRIES);
        assert_eq!(
            normalized.stripped_prefix.as_deref(),
            Some("repo-abc123/modules/sub")
        );
        // The same module from a tar gives the same bytes.
        let (_, from_tar) = run_subdir(
            &github_tarball().build(),
            &ArchiveLimits::default(),
            "*/modules/sub",
        )
        .unwrap();
        assert_eq!(output, from_tar);

        assert_eq!(
            fail_subdir(&input, "*/examples/sub"),
            "the archive has no directory \"*/examples/sub\""
        );
        let input = ZipBuilder::new()
            .file("repo/main.tf", "")
            .entry(b"repo/sub/passwd", 0o120_777, b"/etc/passwd")
            .file("repo/sub/main.tf", "")
            .build();
        assert_eq!(
            fail_subdir(&input, "*/sub"),
            "unexpected symlink or hard link found: repo/sub/passwd"
        );
    }

    #[test]
    fn subdir_without_terraform_files() {
        let input = github_tarball()
            .dir("repo-abc123/docs/")
            .file("repo-abc123/docs/index.md", "")
            .dir("repo-abc123/empty/")
            .dir("repo-abc123/empty/nested/")
            .build();
        assert_eq!(
            fail_subdir(&input, "*/docs"),
            "archive has no .tf or .tf.json file at its module root"
        );
        assert_eq!(fail_subdir(&input, "*/empty"), "archive is empty");
    }

    #[test]
    fn subdir_of_a_tar_without_directory_entries() {
        let input = TarGzBuilder::new()
            .file("repo-abc123/main.tf", "")
            .file("repo-abc123/modules/sub/main.tf", "variable \"v\" {}\n")
            .file("repo-abc123/modules/sub/scripts/run.sh", "")
            .build();
        for select in ["*/modules/sub", "repo-abc123/modules/sub", "*/*/sub"] {
            let (normalized, entries) = ok_subdir(&input, select);
            assert_eq!(
                entries,
                ["f 644 main.tf 16", "f 644 scripts/run.sh 0"],
                "{select}"
            );
            assert_eq!(
                normalized.stripped_prefix.as_deref(),
                Some("repo-abc123/modules/sub"),
                "{select}"
            );
        }
        let (normalized, entries) = ok_subdir(&input, "*");
        assert_eq!(
            entries,
            [
                "f 644 main.tf 0",
                "f 644 modules/sub/main.tf 16",
                "f 644 modules/sub/scripts/run.sh 0",
            ]
        );
        assert_eq!(normalized.stripped_prefix.as_deref(), Some("repo-abc123"));
    }

    // ---- Output failures ---------------------------------------------------------------------

    #[test]
    fn output_errors_are_io_errors() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = normalize_archive(
            Cursor::new(module().build()),
            Full,
            &ArchiveLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Io(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "I/O error while normalising the archive: disk full"
        );
    }
}
