//! Reading a `.tar.gz` upload: tar members with their GNU and pax extension headers folded in
//! (and capped), entry types, and the two passes.

use std::io::{self, Read, Seek, SeekFrom, Write};

use flate2::read::MultiGzDecoder;
use tar::EntryType;

use super::metered_io::{measure, Exact, HashingWriter, Input, Limited, Meter};
use super::output::{append_planned, check_exact, output_builder};
use super::plan::{EntryKind, Plan, PlannedKind, Planner};
use super::selection::Selection;
use super::{ArchiveError, ArchiveLimits};

/// Largest GNU long-name or pax extended header we read. The tar format lets such a header be
/// any size and it has to be held in memory to be used, so without a cap a few kilobytes of
/// gzip could make us allocate the whole unpacked-size budget for one file name.
pub(super) const MAX_EXTENSION_HEADER_BYTES: u64 = 1024 * 1024;

/// One tar member with the name its extension headers gave it.
struct Member<'a, R: Read> {
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
fn next_member<'a, R: Read>(
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
        EntryType::Regular | EntryType::Continuous if member.path.ends_with(b"/") => EntryKind::Dir,
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
