//! Writes [`Entry`]s as tar members, header by header, so that any name, type and pax record
//! can be written.

use std::io::{self, Read, Write};

use tar::EntryType;

use super::{Contents, Entry, Kind, Owner};

/// Where the tar format stops a name in the header's own field; longer names need the ustar
/// prefix field, a pax `path` record or a GNU long-name header.
const NAME_FIELD_BYTES: usize = 100;
const PREFIX_FIELD_BYTES: usize = 155;

pub(super) fn write_entry(
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
        Kind::Socket => panic!(
            "tar has no entry type for a socket ({:?})",
            entry.display_name()
        ),
        Kind::PaxGlobalHeader => (EntryType::XGlobalHeader, None, 0o666),
        Kind::Tar(entry_type) => (*entry_type, None, 0o666 & !umask),
    };
    assert!(
        !entry.bad_crc,
        "tar entries carry no CRC ({:?})",
        entry.display_name()
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
pub(super) fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
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
