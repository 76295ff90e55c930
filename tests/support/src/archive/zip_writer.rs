//! Writes [`Entry`]s as a zip, byte by byte (local headers, then the central directory), so
//! that names, modes, sizes and CRCs can be anything.

use std::io::Write;

use super::{Entry, Kind};

const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

/// modes, sizes and CRCs can be anything.
#[derive(Default)]
pub(super) struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

impl ZipWriter {
    pub(super) fn add(&mut self, entry: Entry, umask: u32, time: u16, date: u16) {
        let unsupported =
            |what: &str| -> ! { panic!("zip has no {what} ({:?})", entry.display_name()) };
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

    pub(super) fn finish(mut self) -> Vec<u8> {
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
pub(super) fn dos_time_and_date(secs: u64) -> (u16, u16) {
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
