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

use std::collections::HashSet;
use std::io::{self, Read, Write};

pub use tar::EntryType;

/// The modification time of every entry unless [`ArchiveBuilder::mtime`] says otherwise:
/// 2024-01-02T03:04:06Z, a whole even second so that a zip's DOS time holds it exactly.
pub const DEFAULT_MTIME: u64 = 1_704_164_646;

/// Where the tar format stops a name in the header's own field; longer names need the ustar
/// prefix field, a pax `path` record or a GNU long-name header.
const NAME_FIELD_BYTES: usize = 100;
const PREFIX_FIELD_BYTES: usize = 155;

const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

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
            write_tar_entry(&mut output, entry, &owner, mtime, umask)?;
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

// ---- tar ---------------------------------------------------------------------------------

fn write_tar_entry(
    output: &mut impl Write,
    entry: Entry,
    owner: &Owner,
    mtime: u64,
    umask: u32,
) -> io::Result<()> {
    let (entry_type, link, default_mode) = match &entry.kind {
        Kind::File => (EntryType::Regular, None, 0o666 & !umask),
        Kind::Dir => (EntryType::Directory, None, 0o777 & !umask),
        Kind::Symlink { target } => (EntryType::Symlink, Some(target), 0o777),
        Kind::Hardlink { target } => (EntryType::Link, Some(target), 0o666 & !umask),
        Kind::Fifo => (EntryType::Fifo, None, 0o666 & !umask),
        Kind::CharDevice => (EntryType::Char, None, 0o666 & !umask),
        Kind::BlockDevice => (EntryType::Block, None, 0o666 & !umask),
        Kind::Socket => panic!("tar has no entry type for a socket ({:?})", name(&entry)),
        Kind::PaxGlobalHeader => (EntryType::XGlobalHeader, None, 0o666),
        Kind::Tar(entry_type) => (*entry_type, None, 0o666 & !umask),
    };
    assert!(
        !entry.bad_crc,
        "tar entries carry no CRC ({:?})",
        name(&entry)
    );
    let header_fields = |entry_type, mode, size| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(entry_type);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(mtime);
        header.set_uid(owner.uid);
        header.set_gid(owner.gid);
        header.set_username(&owner.name).expect("a short user name");
        header
            .set_groupname(&owner.name)
            .expect("a short group name");
        header
    };

    let mut header = header_fields(
        entry_type,
        entry.mode.unwrap_or(default_mode),
        entry.declared_size.unwrap_or(entry.contents.len()),
    );
    let mut extended = Vec::new();
    let ustar = header.as_ustar_mut().expect("a ustar header");
    if entry.gnu_long_name {
        let mut long = header_fields(EntryType::GNULongName, 0o644, entry.name.len() as u64 + 1);
        copy_field(&mut long.as_old_mut().name, b"././@LongLink");
        long.set_cksum();
        let mut data = entry.name.clone();
        data.push(0);
        write_member(output, &long, &mut &data[..])?;
        copy_field(&mut ustar.name, truncated(&entry.name, NAME_FIELD_BYTES));
    } else if entry.name.len() <= NAME_FIELD_BYTES {
        copy_field(&mut ustar.name, &entry.name);
    } else if let Some(split) = ustar_split(&entry.name) {
        copy_field(&mut ustar.prefix, &entry.name[..split]);
        copy_field(&mut ustar.name, &entry.name[split + 1..]);
    } else {
        extended.push(("path".to_owned(), entry.name.clone()));
        copy_field(&mut ustar.name, truncated(&entry.name, NAME_FIELD_BYTES));
    }
    if let Some(link) = link {
        if link.len() > NAME_FIELD_BYTES {
            extended.push(("linkpath".to_owned(), link.clone()));
        }
        copy_field(&mut ustar.linkname, truncated(link, NAME_FIELD_BYTES));
    }
    header.set_cksum();
    extended.extend(entry.pax);
    if !extended.is_empty() {
        let records = pax_records(&extended);
        let mut pax = header_fields(EntryType::XHeader, 0o644, records.len() as u64);
        copy_field(&mut pax.as_old_mut().name, b"pax_header");
        pax.set_cksum();
        write_member(output, &pax, &mut &records[..])?;
    }
    match entry.contents {
        Contents::Bytes(bytes) => write_member(output, &header, &mut &bytes[..]),
        Contents::Reader { len, reader } => write_member(output, &header, &mut reader.take(len)),
    }
}

/// A header, then the data, then zeros up to the next 512-byte block.
fn write_member(
    output: &mut impl Write,
    header: &tar::Header,
    data: &mut impl Read,
) -> io::Result<()> {
    output.write_all(header.as_bytes())?;
    let written = io::copy(data, output)?;
    let padding = (512 - written % 512) % 512;
    output.write_all(&vec![0; padding as usize])
}

/// Where to cut a long name between the ustar prefix and name fields: at a `/` leaving each
/// part short enough. `None` if there is no such slash.
fn ustar_split(name: &[u8]) -> Option<usize> {
    (0..name.len()).find(|&i| {
        name[i] == b'/'
            && i <= PREFIX_FIELD_BYTES
            && name.len() - i - 1 <= NAME_FIELD_BYTES
            && i + 1 < name.len()
    })
}

fn truncated(value: &[u8], limit: usize) -> &[u8] {
    &value[..value.len().min(limit)]
}

fn copy_field(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    field[..value.len()].copy_from_slice(value);
}

/// pax extended header records: `"{length} {key}={value}\n"`, where the length counts
/// itself.
fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3;
        let mut length = rest + 1;
        while length.to_string().len() + rest != length {
            length += 1;
        }
        out.extend_from_slice(format!("{length} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn name(entry: &Entry) -> String {
    String::from_utf8_lossy(&entry.name).into_owned()
}

// ---- zip ---------------------------------------------------------------------------------

/// Writes a zip byte by byte (local headers, then the central directory), so that names,
/// modes, sizes and CRCs can be anything.
#[derive(Default)]
struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

impl ZipWriter {
    fn add(&mut self, entry: Entry, umask: u32, time: u16, date: u16) {
        let unsupported = |what: &str| -> ! { panic!("zip has no {what} ({:?})", name(&entry)) };
        assert!(entry.pax.is_empty(), "zip has no pax headers");
        assert!(!entry.gnu_long_name, "zip has no GNU long-name headers");
        let (file_type, default_mode, data) = match &entry.kind {
            Kind::File => (S_IFREG, 0o666 & !umask, None),
            Kind::Dir => (S_IFDIR, 0o777 & !umask, None),
            Kind::Symlink { target } => (S_IFLNK, 0o777, Some(target.clone())),
            Kind::Fifo => (S_IFIFO, 0o666 & !umask, None),
            Kind::CharDevice => (S_IFCHR, 0o666 & !umask, None),
            Kind::BlockDevice => (S_IFBLK, 0o666 & !umask, None),
            Kind::Socket => (S_IFSOCK, 0o666 & !umask, None),
            Kind::Hardlink { .. } => unsupported("hard links"),
            Kind::PaxGlobalHeader => unsupported("pax global headers"),
            Kind::Tar(_) => unsupported("tar entry types"),
        };
        let mode = file_type | entry.mode.unwrap_or(default_mode);
        let data = data.unwrap_or_else(|| entry.contents.into_bytes());
        let crc = if entry.bad_crc {
            0xdead_beef
        } else {
            let mut crc = flate2::Crc::new();
            crc.update(&data);
            crc.sum()
        };
        let body = deflate(&data);
        let size = entry.declared_size.unwrap_or(data.len() as u64);
        let size = u32::try_from(size).expect("zip sizes above 4 GiB need zip64");
        let offset = self.out.len() as u32;
        let common = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&20u16.to_le_bytes()); // version needed
            buf.extend_from_slice(&0u16.to_le_bytes()); // flags
            buf.extend_from_slice(&8u16.to_le_bytes()); // method: deflate
            buf.extend_from_slice(&time.to_le_bytes());
            buf.extend_from_slice(&date.to_le_bytes());
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        self.out.extend_from_slice(b"PK\x03\x04");
        common(&mut self.out);
        self.out.extend_from_slice(&entry.name);
        self.out.extend_from_slice(&body);

        let central = &mut self.central;
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by unix
        common(central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&(mode << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&entry.name);
        self.entries += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        let central_offset = self.out.len() as u32;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(b"PK\x05\x06");
        self.out.extend_from_slice(&0u16.to_le_bytes()); // this disk
        self.out.extend_from_slice(&0u16.to_le_bytes()); // disk of the central directory
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out.extend_from_slice(&self.entries.to_le_bytes());
        self.out
            .extend_from_slice(&(self.central.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&central_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.out
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// Unix seconds as a DOS time and date (UTC, two-second resolution, 1980 to 2107).
fn dos_time_and_date(secs: u64) -> (u16, u16) {
    let days = (secs / 86_400) as i64;
    let secs_of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    assert!(
        (1980..=2107).contains(&year),
        "a DOS date cannot hold the year {year}"
    );
    let time =
        ((secs_of_day / 3_600) << 11) | (((secs_of_day / 60) % 60) << 5) | (secs_of_day % 60 / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_time_of_the_default_mtime() {
        // 2024-01-02T03:04:06Z
        let time = (3 << 11) | (4 << 5) | (6 / 2);
        let date = ((2024 - 1980) << 9) | (1 << 5) | 2;
        assert_eq!(dos_time_and_date(DEFAULT_MTIME), (time, date));
    }

    #[test]
    fn top_folder_lists_each_directory_once_before_its_contents() {
        let tar = ArchiveBuilder::new()
            .pax_global_header(&[("comment", b"abc")])
            .top_folder("repo-abc")
            .file("main.tf", "")
            .dir("modules/")
            .file("modules/sub/main.tf", "")
            .file("modules/sub/vars.tf", "")
            .file("../escape", "")
            .outside_top_folder()
            .build_tar();
        let mut archive = tar::Archive::new(&tar[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "pax_global_header",
                "repo-abc/",
                "repo-abc/main.tf",
                "repo-abc/modules/",
                "repo-abc/modules/sub/",
                "repo-abc/modules/sub/main.tf",
                "repo-abc/modules/sub/vars.tf",
                "../escape",
            ]
        );
    }

    #[test]
    fn long_names_survive_the_tar_crate() {
        let deep = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let flat = "x".repeat(200);
        let gnu = format!("g/{}", "y".repeat(150));
        let tar = ArchiveBuilder::new()
            .file(&deep, "1")
            .file(&flat, "2")
            .file(&gnu, "3")
            .gnu_long_name()
            .symlink("l", "t".repeat(150))
            .build_tar();
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<(String, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap());
                (
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    link,
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                (deep, None),
                (flat, None),
                (gnu, None),
                ("l".to_owned(), Some("t".repeat(150))),
            ]
        );
    }

    #[test]
    fn zips_read_back_with_the_zip_crate() {
        let zip = ArchiveBuilder::new()
            .dir("m/")
            .file("m/main.tf", "abc")
            .file("m/run.sh", "#!/bin/sh\n")
            .mode(0o755)
            .symlink("m/link", "main.tf")
            .build_zip();
        let mut archive = zip::ZipArchive::new(io::Cursor::new(zip)).unwrap();
        let mut seen = Vec::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap();
            let mut data = String::new();
            file.read_to_string(&mut data).unwrap();
            seen.push((file.name().to_owned(), file.unix_mode().unwrap(), data));
        }
        assert_eq!(
            seen,
            [
                ("m/".to_owned(), 0o040_755, String::new()),
                ("m/main.tf".to_owned(), 0o100_644, "abc".to_owned()),
                ("m/run.sh".to_owned(), 0o100_755, "#!/bin/sh\n".to_owned()),
                ("m/link".to_owned(), 0o120_777, "main.tf".to_owned()),
            ]
        );
    }
}
