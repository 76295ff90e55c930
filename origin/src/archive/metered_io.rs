//! The readers and writers between the caller's streams, the decompressors and the archive
//! parsers. They enforce the unpacked-size budget on what decompression actually produces (the
//! defence against decompression bombs) and record which kind of failure came first, so that a
//! full disk is reported as a server error and a bomb as a bomb.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use super::entry_path::printable;
use super::ArchiveError;

/// Shared accounting for one call: the unpacked-size budget left, and which kind of failure
/// happened first. Errors come back from the tar, zip and gzip code as plain `io::Error`s,
/// often re-wrapped, so the wrappers below record what they saw instead of relying on the
/// error surviving the trip intact.
pub(super) struct Meter {
    limit: u64,
    remaining: Cell<u64>,
    limit_hit: Cell<bool>,
    io_failed: Cell<bool>,
}

impl Meter {
    pub(super) fn new(limit: u64) -> Self {
        Meter {
            limit,
            remaining: Cell::new(limit),
            limit_hit: Cell::new(false),
            io_failed: Cell::new(false),
        }
    }

    /// Refills the budget for the next pass over the input.
    pub(super) fn reset(&self) {
        self.remaining.set(self.limit);
    }

    /// Classifies an error raised while the archive was being read or written.
    pub(super) fn error(&self, error: io::Error) -> ArchiveError {
        if self.limit_hit.get() {
            ArchiveError::TooLarge { limit: self.limit }
        } else if self.io_failed.get() {
            ArchiveError::Io(error)
        } else {
            // Parser messages can quote raw header bytes.
            ArchiveError::Corrupt(printable(&error.to_string()))
        }
    }

    pub(super) fn zip_error(&self, error: zip::result::ZipError) -> ArchiveError {
        match error {
            zip::result::ZipError::Io(e) => self.error(e),
            other if self.io_failed.get() => ArchiveError::Io(io::Error::other(other)),
            other => ArchiveError::Corrupt(printable(&other.to_string())),
        }
    }
}

/// The caller's reader, noting read failures so they are not blamed on the archive.
pub(super) struct Input<'m, R> {
    pub(super) inner: R,
    pub(super) meter: &'m Meter,
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
pub(super) struct Limited<'m, R> {
    pub(super) inner: R,
    pub(super) meter: &'m Meter,
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
pub(super) struct Exact<R> {
    pub(super) inner: R,
    pub(super) remaining: u64,
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
pub(super) struct HashingWriter<'m, W> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) written: u64,
    pub(super) meter: &'m Meter,
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
pub(super) fn measure(reader: &mut impl Read, meter: &Meter) -> Result<u64, ArchiveError> {
    io::copy(reader, &mut io::sink()).map_err(|e| meter.error(e))
}
