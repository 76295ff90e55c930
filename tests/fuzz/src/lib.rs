//! What the archive targets check beyond "no panic": the invariants `tfreg_origin::archive`
//! promises for whatever it accepts.

use std::collections::HashSet;
use std::io::{Cursor, Read};

use tfreg_origin::archive::{normalize_archive, normalize_archive_subdir, ArchiveLimits};

/// Limits small enough that a decompression bomb stops within a fuzz iteration.
pub const FUZZ_LIMITS: ArchiveLimits = ArchiveLimits {
    max_unpacked_bytes: 256 * 1024,
    max_files: 64,
};

/// The subdirectory selections the archive targets try, picked by the input's first byte:
/// the upload path (none) and the proxy's forge shapes.
pub const SELECTIONS: &[&str] = &["", "", "*", "*/modules/sub", "modules/sub", "a/*"];

/// Normalises `input` with `select`; if it is accepted, checks the output:
/// - it is a gzip-compressed tar whose entries are only regular files and directories, with
///   relative UTF-8 paths free of `..`, `.`, empty components, backslashes and NUL, none twice;
/// - file and entry counts and content sizes agree with what was reported and stay within the
///   limits;
/// - normalising it again (the upload path, default limits) accepts it and gives the same
///   bytes.
pub fn check_normalisation(input: &[u8], select: &str) {
    let mut output = Vec::new();
    let Ok(normalized) =
        normalize_archive_subdir(Cursor::new(input), &mut output, &FUZZ_LIMITS, select)
    else {
        return;
    };
    assert_eq!(normalized.size, output.len() as u64, "reported size");

    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&output[..]));
    let mut seen = HashSet::new();
    let (mut files, mut entries, mut content_bytes) = (0u64, 0u64, 0u64);
    for entry in archive.entries().expect("the output is a tar.gz") {
        let mut entry = entry.expect("every output entry reads back");
        let header = entry.header();
        let kind = header.entry_type();
        assert!(
            kind.is_file() || kind.is_dir(),
            "output holds a {kind:?} entry"
        );
        assert!(
            header.link_name_bytes().is_none_or(|l| l.is_empty()),
            "output entry carries a link name"
        );
        let path_bytes = entry.path_bytes().into_owned();
        let path = std::str::from_utf8(&path_bytes).expect("output path is UTF-8");
        assert!(!path.starts_with('/'), "absolute output path {path:?}");
        assert!(
            !path.contains('\\') && !path.contains('\0'),
            "odd output path {path:?}"
        );
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        assert!(
            trimmed
                .split('/')
                .all(|c| !c.is_empty() && c != ".." && c != "."),
            "output path {path:?} has an empty, `.` or `..` component"
        );
        assert!(
            seen.insert(trimmed.to_owned()),
            "duplicate output path {path:?}"
        );
        entries += 1;
        if kind.is_file() {
            files += 1;
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("file data reads back");
            assert_eq!(
                data.len() as u64,
                entry.header().size().unwrap(),
                "declared size"
            );
            content_bytes += data.len() as u64;
        }
    }
    assert_eq!(files, normalized.files, "reported file count");
    assert_eq!(
        content_bytes, normalized.unpacked_bytes,
        "reported unpacked bytes"
    );
    assert!(
        entries <= FUZZ_LIMITS.max_files,
        "{entries} entries over the limit"
    );
    assert!(
        content_bytes <= FUZZ_LIMITS.max_unpacked_bytes,
        "{content_bytes} bytes over the limit"
    );

    // Idempotent: our own output goes through unchanged (with default limits: a zip's limit
    // counts file data only, the tar we write adds headers).
    let mut again = Vec::new();
    let renormalized =
        normalize_archive(Cursor::new(&output), &mut again, &ArchiveLimits::default())
            .unwrap_or_else(|e| panic!("our own output is refused: {e}"));
    assert!(
        renormalized.stripped_prefix.is_none(),
        "our own output lost a folder"
    );
    assert!(again == output, "normalising the output changed it");
    assert_eq!(renormalized.sha256, normalized.sha256);
}

/// The selection a fuzz input asks for (its first byte) and the archive bytes (the rest).
pub fn split_selection(data: &[u8]) -> Option<(&'static str, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((SELECTIONS[usize::from(first) % SELECTIONS.len()], rest))
}
