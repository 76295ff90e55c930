//! Builds module archives for tests and benches: tar, tar.gz and zip from one description.
//!
//! ```ignore
//! let upload = ArchiveBuilder::new()
//!     .file("main.tf", "resource \"x\" \"y\" {}\n")
//!     .file("run.sh", "#!/bin/sh\n").mode(0o755)
//!     .symlink("passwd", "/etc/passwd")
//!     .build_tar_gz();
//! ```
//!
//! Archives are written header by header, never through an archiving library's own builder,
//! because those refuse exactly what the registry must be tested against: names are copied
//! byte for byte (`../x`, `/etc/x`, `C:/x`, non-UTF-8, a NUL in a pax path), links, device
//! nodes and fifos can be written, a zip entry can lie about its size or CRC, and a tar entry
//! can carry any pax record. Methods that describe an entry append it; methods that modify one
//! ([`mode`](ArchiveBuilder::mode), [`pax`](ArchiveBuilder::pax),
//! [`declare_size`](ArchiveBuilder::declare_size), …) apply to the entry appended last. Asking
//! a format for what it cannot hold (a hard link in a zip, a socket in a tar) panics.
//!
//! Every entry gets the same modification time ([`DEFAULT_MTIME`] unless
//! [`mtime`](ArchiveBuilder::mtime) says otherwise) and owner (root unless
//! [`owner`](ArchiveBuilder::owner) says otherwise), so that the same description gives the
//! same bytes.

mod tar_writer;
mod zip_writer;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io::{self, Read, Write};

pub use tar::EntryType;

use tar_writer::pax_records;
use zip_writer::{dos_time_and_date, ZipWriter};

/// The modification time of every entry unless [`ArchiveBuilder::mtime`] says otherwise:
/// 2024-01-02T03:04:06Z, a whole even second so that a zip's DOS time holds it exactly.
pub const DEFAULT_MTIME: u64 = 1_704_164_646;

/// A description of an archive, written out by [`build_tar`](Self::build_tar),
/// [`build_tar_gz`](Self::build_tar_gz) or [`build_zip`](Self::build_zip).
pub struct ArchiveBuilder {
    entries: Vec<Entry>,
    top_folder: Option<String>,
    mtime: u64,
    owner: Owner,
    umask: u32,
    gzip_level: u32,
}

#[derive(Clone)]
struct Owner {
    uid: u64,
    gid: u64,
    name: String,
}

struct Entry {
    name: Vec<u8>,
    kind: Kind,
    /// Permission bits; `None` for the kind's default under the builder's umask.
    mode: Option<u32>,
    contents: Contents,
    declared_size: Option<u64>,
    bad_crc: bool,
    /// pax extended header records written before the entry, in order.
    pax: Vec<(String, Vec<u8>)>,
    gnu_long_name: bool,
    outside_top_folder: bool,
}

enum Kind {
    File,
    Dir,
    Symlink {
        target: Vec<u8>,
    },
    Hardlink {
        target: Vec<u8>,
    },
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    PaxGlobalHeader,
    /// Any tar entry type, with the contents as its data.
    Tar(EntryType),
}

enum Contents {
    Bytes(Vec<u8>),
    /// Streamed into the archive when it is written (benches: archives larger than memory
    /// should be).
    Reader {
        len: u64,
        reader: Box<dyn Read>,
    },
}

impl Contents {
    fn len(&self) -> u64 {
        match self {
            Contents::Bytes(bytes) => bytes.len() as u64,
            Contents::Reader { len, .. } => *len,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Contents::Bytes(bytes) => bytes,
            Contents::Reader { len, mut reader } => {
                let mut bytes = Vec::with_capacity(len as usize);
                reader
                    .read_to_end(&mut bytes)
                    .expect("reading file contents");
                assert_eq!(bytes.len() as u64, len, "the reader's length");
                bytes
            }
        }
    }
}

impl Default for ArchiveBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ArchiveBuilder {
    /// An empty archive: no entries, entries at the root, owned by root, [`DEFAULT_MTIME`],
    /// umask `022`.
    pub fn new() -> Self {
        ArchiveBuilder {
            entries: Vec::new(),
            top_folder: None,
            mtime: DEFAULT_MTIME,
            owner: Owner {
                uid: 0,
                gid: 0,
                name: "root".to_owned(),
            },
            umask: 0o022,
            gzip_level: 6,
        }
    }

    // ---- Archive-wide settings -----------------------------------------------------------

    /// Puts every entry beneath one folder, as GitHub's tarballs and `git archive --prefix`
    /// do: the folder's own entry comes first (after any pax global header), and each
    /// directory an entry lies in is listed once, before the first entry inside it. Entries
    /// marked [`outside_top_folder`](Self::outside_top_folder) are written as named.
    pub fn top_folder(mut self, name: &str) -> Self {
        self.top_folder = Some(name.trim_end_matches('/').to_owned());
        self
    }

    /// The modification time of every entry, in Unix seconds.
    pub fn mtime(mut self, secs: u64) -> Self {
        self.mtime = secs;
        self
    }

    /// The owner of every tar entry (user and group names both `name`).
    pub fn owner(mut self, uid: u64, gid: u64, name: &str) -> Self {
        self.owner = Owner {
            uid,
            gid,
            name: name.to_owned(),
        };
        self
    }

    /// The bits taken away from default modes (`0666` for files, `0777` for directories), as
    /// an archiver's umask does: `022` gives `0644`/`0755`, `002` (what `git archive` uses)
    /// gives `0664`/`0775`. Modes set with [`mode`](Self::mode) are written as given.
    pub fn umask(mut self, umask: u32) -> Self {
        self.umask = umask;
        self
    }

    /// The gzip level for [`build_tar_gz`](Self::build_tar_gz), 0 to 9 (default 6).
    pub fn gzip_level(mut self, level: u32) -> Self {
        self.gzip_level = level;
        self
    }

    // ---- Entries -------------------------------------------------------------------------

    /// A regular file. Names here and below are bytes, written as given.
    pub fn file(self, name: impl AsRef<[u8]>, contents: impl AsRef<[u8]>) -> Self {
        let contents = Contents::Bytes(contents.as_ref().to_vec());
        self.push(name, Kind::File, contents)
    }

    /// A regular file of `len` bytes read from `reader` while the archive is written, so that
    /// large archives need not be held in memory (a zip still reads it into memory).
    pub fn file_from_reader(
        self,
        name: impl AsRef<[u8]>,
        len: u64,
        reader: impl Read + 'static,
    ) -> Self {
        let contents = Contents::Reader {
            len,
            reader: Box::new(reader),
        };
        self.push(name, Kind::File, contents)
    }

    /// A directory; the trailing slash, if wanted, is part of `name`.
    pub fn dir(self, name: impl AsRef<[u8]>) -> Self {
        self.push(name, Kind::Dir, Contents::Bytes(Vec::new()))
    }

    /// A symbolic link to `target`, written verbatim (`/etc/passwd`, `../../x`). In a zip, an
    /// entry with the symlink file type whose data is the target.
    pub fn symlink(self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let target = target.as_ref().to_vec();
        self.push(name, Kind::Symlink { target }, Contents::Bytes(Vec::new()))
    }

    /// A hard link to `target`, written verbatim. Tar only.
    pub fn hardlink(self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let target = target.as_ref().to_vec();
        self.push(name, Kind::Hardlink { target }, Contents::Bytes(Vec::new()))
    }

    /// A named pipe.
    pub fn fifo(self, name: impl AsRef<[u8]>) -> Self {
        self.push(name, Kind::Fifo, Contents::Bytes(Vec::new()))
    }

    /// A character device node.
    pub fn char_device(self, name: impl AsRef<[u8]>) -> Self {
        self.push(name, Kind::CharDevice, Contents::Bytes(Vec::new()))
    }

    /// A block device node.
    pub fn block_device(self, name: impl AsRef<[u8]>) -> Self {
        self.push(name, Kind::BlockDevice, Contents::Bytes(Vec::new()))
    }

    /// A unix socket. Zip only: tar has no entry type for sockets.
    pub fn socket(self, name: impl AsRef<[u8]>) -> Self {
        self.push(name, Kind::Socket, Contents::Bytes(Vec::new()))
    }

    /// A pax global header named `pax_global_header` holding `records`, as `git archive` (and
    /// so GitHub) writes first, with the commit id as `comment`. Never beneath the top folder.
    /// Tar only.
    pub fn pax_global_header(self, records: &[(&str, &[u8])]) -> Self {
        let records: Vec<_> = records
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.to_vec()))
            .collect();
        let mut builder = self.push(
            "pax_global_header",
            Kind::PaxGlobalHeader,
            Contents::Bytes(pax_records(&records)),
        );
        builder.last().outside_top_folder = true;
        builder
    }

    /// An entry of any tar type with `data` as its contents, for what the other methods have
    /// no name for: sparse files, volume labels, a GNU long-name header on its own. Tar only.
    pub fn tar_entry(
        self,
        name: impl AsRef<[u8]>,
        entry_type: EntryType,
        data: impl AsRef<[u8]>,
    ) -> Self {
        let contents = Contents::Bytes(data.as_ref().to_vec());
        self.push(name, Kind::Tar(entry_type), contents)
    }

    // ---- Modifiers of the last entry -----------------------------------------------------

    /// The permission bits of the last entry (setuid and sticky bits included), instead of its
    /// kind's default. In a zip, the file type bits are added.
    pub fn mode(mut self, mode: u32) -> Self {
        self.last().mode = Some(mode);
        self
    }

    /// Makes the last entry declare `size` bytes in its header while holding its real
    /// contents: a zip entry that inflates to more than it claims (a bomb), or a tar header
    /// whose size does not match the data after it.
    pub fn declare_size(mut self, size: u64) -> Self {
        self.last().declared_size = Some(size);
        self
    }

    /// Gives the last entry a wrong CRC-32. Zip only.
    pub fn bad_crc(mut self) -> Self {
        self.last().bad_crc = true;
        self
    }

    /// Adds a record to the pax extended header written before the last entry (`path`, `size`,
    /// `GNU.sparse.major`, …); the value is written as given, NUL bytes included. Tar only.
    pub fn pax(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        let record = (key.to_owned(), value.as_ref().to_vec());
        self.last().pax.push(record);
        self
    }

    /// Writes the last entry's name in a GNU long-name header (`././@LongLink`), with the
    /// header's own name field holding its first 100 bytes. Without this, a name longer than
    /// the field is split into the ustar prefix if it can be, else given a pax `path` record,
    /// as `git archive` does. Tar only.
    pub fn gnu_long_name(mut self) -> Self {
        self.last().gnu_long_name = true;
        self
    }

    /// Writes the last entry at the name given, not beneath the [top folder](Self::top_folder)
    /// (`../escape`, `/etc/cron.d/x`, a second top-level folder).
    pub fn outside_top_folder(mut self) -> Self {
        self.last().outside_top_folder = true;
        self
    }

    // ---- Output --------------------------------------------------------------------------

    /// The uncompressed tar, end-of-archive marker (two zero blocks) included.
    pub fn build_tar(self) -> Vec<u8> {
        self.write_tar(Vec::new()).expect("writing to memory")
    }

    /// The tar, gzip-compressed.
    pub fn build_tar_gz(self) -> Vec<u8> {
        self.write_tar_gz(Vec::new()).expect("writing to memory")
    }

    /// Writes the tar to `output` and returns it.
    pub fn write_tar<W: Write>(self, mut output: W) -> io::Result<W> {
        let (owner, mtime, umask) = (self.owner.clone(), self.mtime, self.umask);
        for entry in self.resolve() {
            tar_writer::write_entry(&mut output, entry, &owner, mtime, umask)?;
        }
        output.write_all(&[0; 1024])?;
        Ok(output)
    }

    /// Writes the gzip-compressed tar to `output` and returns it.
    pub fn write_tar_gz<W: Write>(self, output: W) -> io::Result<W> {
        let level = flate2::Compression::new(self.gzip_level);
        let gzip = flate2::write::GzEncoder::new(output, level);
        self.write_tar(gzip)?.finish()
    }

    /// A zip of the entries, each deflated, with unix modes (file type bits included) and the
    /// modification time as a DOS date and time.
    pub fn build_zip(self) -> Vec<u8> {
        let (time, date) = dos_time_and_date(self.mtime);
        let umask = self.umask;
        let mut zip = ZipWriter::default();
        for entry in self.resolve() {
            zip.add(entry, umask, time, date);
        }
        zip.finish()
    }

    fn push(mut self, name: impl AsRef<[u8]>, kind: Kind, contents: Contents) -> Self {
        self.entries.push(Entry {
            name: name.as_ref().to_vec(),
            kind,
            mode: None,
            contents,
            declared_size: None,
            bad_crc: false,
            pax: Vec::new(),
            gnu_long_name: false,
            outside_top_folder: false,
        });
        self
    }

    fn last(&mut self) -> &mut Entry {
        self.entries
            .last_mut()
            .expect("a modifier applies to the entry before it; add one first")
    }

    /// The entries as written: beneath the top folder, with its directories, if there is one.
    fn resolve(self) -> Vec<Entry> {
        let Some(top) = self.top_folder else {
            return self.entries;
        };
        let mut resolved = Vec::with_capacity(self.entries.len() + 1);
        let mut listed: HashSet<Vec<u8>> = HashSet::new();
        let directory = |name: Vec<u8>| Entry {
            name,
            kind: Kind::Dir,
            mode: None,
            contents: Contents::Bytes(Vec::new()),
            declared_size: None,
            bad_crc: false,
            pax: Vec::new(),
            gnu_long_name: false,
            outside_top_folder: false,
        };
        let mut top_listed = false;
        for mut entry in self.entries {
            if !top_listed && !matches!(entry.kind, Kind::PaxGlobalHeader) {
                resolved.push(directory(format!("{top}/").into_bytes()));
                top_listed = true;
            }
            if entry.outside_top_folder {
                resolved.push(entry);
                continue;
            }
            let path = entry.name.strip_suffix(b"/").unwrap_or(&entry.name);
            let components: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
            let mut parent = top.as_bytes().to_vec();
            for component in &components[..components.len() - 1] {
                parent.push(b'/');
                parent.extend_from_slice(component);
                if listed.insert(parent.clone()) {
                    let mut name = parent.clone();
                    name.push(b'/');
                    resolved.push(directory(name));
                }
            }
            let mut name = format!("{top}/").into_bytes();
            name.extend_from_slice(&entry.name);
            if let Kind::Dir = entry.kind {
                listed.insert(name.strip_suffix(b"/").unwrap_or(&name).to_vec());
            }
            entry.name = name;
            resolved.push(entry);
        }
        if !top_listed {
            resolved.push(directory(format!("{top}/").into_bytes()));
        }
        resolved
    }
}

/// The gzip stream of `data` at the default level (to wrap a hand-altered tar).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(data).expect("writing to memory");
    gzip.finish().expect("writing to memory")
}

impl Entry {
    /// The name for messages.
    fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A module archive (tar.gz) holding `files` at its root.
pub fn module_archive(files: &[(&str, &str)]) -> Vec<u8> {
    files
        .iter()
        .fold(ArchiveBuilder::new(), |archive, (path, contents)| {
            archive.file(path, contents)
        })
        .build_tar_gz()
}

/// A minimal module whose output names its version, so a test can tell which one Terraform
/// installed.
pub fn versioned_module(version: &str) -> Vec<u8> {
    module_archive(&[
        (
            "main.tf",
            &format!("output \"version\" {{\n  value = \"{version}\"\n}}\n"),
        ),
        ("README.md", "A test module.\n"),
    ])
}
