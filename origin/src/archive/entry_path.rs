//! Entry names: what makes one hostile, and the normalised form the checks compare.

use super::ArchiveError;

/// Validates an entry name and returns it for display along with its normalised form: no `.`
/// or empty components, no trailing slash. The root itself normalises to the empty string.
pub(super) fn normalize_path(raw: &[u8]) -> Result<(String, String), ArchiveError> {
    let Ok(name) = std::str::from_utf8(raw) else {
        // What a non-UTF-8 name becomes on disk depends on the unpacker's platform and locale,
        // so it is refused rather than guessed at.
        return Err(ArchiveError::InvalidPath {
            path: printable(&String::from_utf8_lossy(raw)),
        });
    };
    let original = printable(name);
    let bytes = name.as_bytes();
    // `/etc/cron.d/x` or `C:\Windows\...` would be written wherever the unpacker is told, not
    // under the module directory.
    if bytes.first() == Some(&b'/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err(ArchiveError::AbsolutePath { path: original });
    }
    // A backslash is a separator on Windows, so `a\..\..\x` would climb out there while
    // looking like one harmless component here. A NUL truncates the name in C-based unpackers,
    // so the file lands under a different name than the one checked. A colon is a drive
    // (`c:x`) or an NTFS alternate data stream (`main.tf:hidden`) on Windows, so what lands on
    // disk is not the file checked here; and any component can become the first once the
    // single top folder is stripped or a subdirectory selected, so a drive in the middle
    // (`repo/c:x`, found by the fuzzer) is one at the start of the output.
    if name.contains(['\\', '\0', ':']) {
        return Err(ArchiveError::InvalidPath { path: original });
    }
    let mut components = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            // Even `a/../b`, which stays inside, is refused: resolving it safely needs the
            // unpacker to track what is a directory, and not all do.
            ".." => return Err(ArchiveError::ParentDirPath { path: original }),
            c => components.push(c),
        }
    }
    Ok((original, components.join("/")))
}

/// Escapes control characters so that a crafted name cannot forge lines in logs or terminals
/// when it is echoed back in an error message.
pub(super) fn printable(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether Terraform would load `name` as configuration: `*.tf` or `*.tf.json`, and not a
/// hidden file, which Terraform skips.
pub(super) fn is_terraform_file(name: &str) -> bool {
    (name.ends_with(".tf") || name.ends_with(".tf.json")) && !name.starts_with('.')
}

/// Whether normalised `path` lies strictly inside directory `dir`; everything lies in the
/// archive root, `""`.
pub(super) fn is_beneath(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}
