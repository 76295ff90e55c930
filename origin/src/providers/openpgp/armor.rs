//! ASCII armor (RFC 9580 §6): the text form of keys and signatures.

use super::{malformed, PgpError};

/// Which armor block is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmorKind {
    PublicKey,
    Signature,
}

impl ArmorKind {
    fn label(self) -> &'static str {
        match self {
            ArmorKind::PublicKey => "PGP PUBLIC KEY BLOCK",
            ArmorKind::Signature => "PGP SIGNATURE",
        }
    }
}

/// The bytes inside an armor block of `kind`, or `input` itself when it is not armored (binary
/// OpenPGP never starts with '-'). The CRC-24 line, when present, must match.
pub fn dearmor(input: &[u8], kind: ArmorKind) -> Result<Vec<u8>, PgpError> {
    let text = input.trim_ascii();
    if !text.starts_with(b"-----") {
        return Ok(input.to_vec());
    }
    let text = std::str::from_utf8(text).map_err(|_| malformed("the armor is not ASCII text"))?;
    let begin = format!("-----BEGIN {}-----", kind.label());
    let end = format!("-----END {}-----", kind.label());
    let mut lines = text.lines().map(str::trim_end);
    if lines.next() != Some(begin.as_str()) {
        return Err(malformed(format!("the armor does not start with {begin}")));
    }
    let mut body = String::new();
    let mut checksum = None;
    let mut in_headers = true;
    let mut ended = false;
    for line in lines.by_ref() {
        if line == end {
            ended = true;
            break;
        }
        if in_headers {
            in_headers = false;
            if line.contains(": ") {
                in_headers = true; // an armor header ("Version: ..."), skipped
                continue;
            }
            if line.is_empty() {
                continue;
            }
        }
        if checksum.is_some() {
            return Err(malformed("the armor has text after its checksum line"));
        }
        match line.strip_prefix('=') {
            Some(crc) if crc.len() == 4 => checksum = Some(decode_base64(crc)?),
            _ => body.push_str(line),
        }
    }
    if !ended {
        return Err(malformed(format!("the armor does not end with {end}")));
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(malformed(
            "the armor is followed by more text (one block only)",
        ));
    }
    let bytes = decode_base64(&body)?;
    if let Some(expected) = checksum {
        if expected[..] != crc24(&bytes).to_be_bytes()[1..] {
            return Err(malformed(
                "the armor's CRC-24 checksum does not match its contents (the text was changed or cut)",
            ));
        }
    }
    Ok(bytes)
}

fn decode_base64(text: &str) -> Result<Vec<u8>, PgpError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| malformed(format!("the armor's base64 does not decode: {e}")))
}

/// `bytes` in an armor block of `kind`, as gpg writes it (with a CRC-24 line, which older Go
/// armor readers require).
pub fn armor(bytes: &[u8], kind: ArmorKind) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = format!("-----BEGIN {}-----\n\n", kind.label());
    for chunk in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    let crc = base64::engine::general_purpose::STANDARD.encode(&crc24(bytes).to_be_bytes()[1..]);
    out.push_str(&format!("={crc}\n-----END {}-----\n", kind.label()));
    out
}

/// RFC 9580 §6.1.1.
pub(super) fn crc24(bytes: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &byte in bytes {
        crc ^= u32::from(byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}
