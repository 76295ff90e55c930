//! Which parser reads an upload: decided by its first bytes, never by its name.

use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    TarGz,
    Zip,
}

/// Tells the format from the first bytes. Names and content types are chosen by the uploader
/// and prove nothing; magic bytes at least prove which parser will be asked to read the rest.
pub(super) fn sniff(input: &mut impl Read) -> io::Result<Option<Format>> {
    let mut magic = [0u8; 4];
    let mut len = 0;
    while len < magic.len() {
        match input.read(&mut magic[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(match &magic[..len] {
        [0x1f, 0x8b, ..] => Some(Format::TarGz),
        // Local file header, or the end-of-central-directory record an empty zip starts with.
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => Some(Format::Zip),
        _ => None,
    })
}
