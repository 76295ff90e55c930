//! Packets (RFC 9580 §4.2) and the bounds-checked reader every parser goes through.

use super::{malformed, PgpError};

/// A cursor over untrusted bytes: every read is bounds-checked and fails as `Malformed`.
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], PgpError> {
        if n > self.bytes.len() {
            return Err(malformed(format!("the {} is cut short", self.what)));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> Result<u8, PgpError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<usize, PgpError> {
        let b = self.take(2)?;
        Ok(usize::from(b[0]) << 8 | usize::from(b[1]))
    }

    pub(super) fn u32(&mut self) -> Result<usize, PgpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// A multiprecision integer (RFC 9580 §3.2), without leading zero bytes.
    pub(super) fn mpi(&mut self) -> Result<&'a [u8], PgpError> {
        let bits = self.u16()?;
        let value = self.take(bits.div_ceil(8))?;
        let zeros = value.iter().take_while(|&&b| b == 0).count();
        Ok(&value[zeros..])
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(super) fn finish(&self) -> Result<(), PgpError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(malformed(format!("the {} has trailing bytes", self.what)))
        }
    }
}

/// One packet: its tag and body (RFC 9580 §4.2), and the whole packet as it was written.
pub(super) struct Packet<'a> {
    pub(super) tag: u8,
    pub(super) body: &'a [u8],
    pub(super) raw: &'a [u8],
}

/// Splits `bytes` into packets. Partial and indeterminate lengths (only used for streamed
/// data packets) are refused.
pub(super) fn packets(bytes: &[u8]) -> Result<Vec<Packet<'_>>, PgpError> {
    let mut out = Vec::new();
    let mut reader = Reader::new(bytes, "packet");
    while !reader.is_empty() {
        let start = reader.bytes;
        let header = reader.u8()?;
        if header & 0x80 == 0 {
            return Err(malformed("not OpenPGP data (bad packet header)"));
        }
        let (tag, length) = if header & 0x40 != 0 {
            let first = usize::from(reader.u8()?);
            let length = match first {
                0..=191 => first,
                192..=223 => ((first - 192) << 8) + usize::from(reader.u8()?) + 192,
                255 => reader.u32()?,
                _ => return Err(malformed("a packet has a partial length")),
            };
            (header & 0x3F, length)
        } else {
            let length = match header & 0x03 {
                0 => usize::from(reader.u8()?),
                1 => reader.u16()?,
                2 => reader.u32()?,
                _ => return Err(malformed("a packet has an indeterminate length")),
            };
            ((header >> 2) & 0x0F, length)
        };
        let body = reader.take(length)?;
        let raw = &start[..start.len() - reader.bytes.len()];
        out.push(Packet { tag, body, raw });
    }
    Ok(out)
}
