//! The second pass's output: a fresh, deterministic `.tar.gz` written from the plan.

use std::io::{self, Read, Write};

use flate2::{Compression, GzBuilder};
use tar::EntryType;

use super::metered_io::Exact;
use super::plan::{Planned, PlannedKind};
use super::ArchiveError;

/// Starts the output: a tar inside a gzip stream whose header carries no name, no timestamp
/// and no operating system, so that equal content gives equal bytes.
pub(super) fn output_builder<W: Write>(output: W) -> tar::Builder<flate2::write::GzEncoder<W>> {
    let gz = GzBuilder::new()
        .operating_system(255)
        // Level 1: four times the throughput of the default level (measured by
        // `cargo bench -p tfreg-origin`), for archives a little larger. Uploads are source
        // code that is small either way; the CPU an upload holds matters more.
        .write(output, Compression::fast());
    tar::Builder::new(gz)
}

/// Appends one planned entry to the output.
pub(super) fn append_planned<W: Write>(
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
pub(super) fn check_exact<R>(data: &Exact<R>, entry: &Planned) -> Result<(), ArchiveError> {
    if data.remaining != 0 {
        return Err(ArchiveError::Corrupt(format!(
            "{} changed between reads",
            entry.original
        )));
    }
    Ok(())
}
