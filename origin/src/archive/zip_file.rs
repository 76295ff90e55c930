//! Reading a zip upload: entry types from unix modes, modification times from DOS dates or the
//! extended timestamp, and the two passes.

use std::io::{self, Read, Seek, Write};

use zip::read::ZipFile;

use super::metered_io::{measure, Exact, HashingWriter, Input, Limited, Meter};
use super::output::{append_planned, check_exact, output_builder};
use super::plan::{EntryKind, Plan, PlannedKind, Planner};
use super::selection::Selection;
use super::{ArchiveError, ArchiveLimits};

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
            PlannedKind::Dir => append_planned(&mut builder, entry, io::empty()).map_err(err)?,
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
