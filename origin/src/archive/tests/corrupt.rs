//! Bodies that are not archives, or archives that cannot be read.

use super::*;

#[test]
fn rejects_what_is_not_an_archive() {
    let msg = "body is not a tar.gz or zip archive";
    assert_eq!(fail(b""), msg);
    assert_eq!(fail(b"\x1f"), msg);
    assert_eq!(fail(b"resource \"x\" \"y\" {}"), msg);
    assert_eq!(fail(&module().build_tar()), msg, "uncompressed tar");
    assert_eq!(fail(b"BZh91AY&SY"), msg, "bzip2");
    assert_eq!(fail(b"\xfd7zXZ\x00"), msg, "xz");
}

#[test]
fn rejects_corrupt_gzip() {
    assert_eq!(
        fail(b"\x1f\x8b\x08\x00garbage-garbage-garbage"),
        "archive is corrupt: corrupt deflate stream"
    );
}

#[test]
fn rejects_truncated_gzip() {
    let input = module().build_tar_gz();
    assert_eq!(
        fail(&input[..input.len() - 6]),
        "archive is corrupt: unexpected end of file"
    );
}

#[test]
fn rejects_gzip_that_is_not_a_tar() {
    assert_eq!(
        fail(&gzip(b"just some text\n")),
        "archive is corrupt: failed to read entire block"
    );
    let mut tar = module().build_tar();
    tar[0] ^= 1; // the header checksum no longer matches
    assert_eq!(
        fail(&gzip(&tar)),
        "archive is corrupt: archive header checksum mismatch"
    );
}

#[test]
fn rejects_tar_truncated_inside_a_file() {
    let tar = module().build_tar();
    assert_eq!(
        fail(&gzip(&tar[..520])),
        "archive is corrupt: unexpected end of data in main.tf"
    );
}

#[test]
fn rejects_corrupt_zip() {
    assert_eq!(
        fail(b"PK\x03\x04 this is not really a zip"),
        "archive is corrupt: invalid Zip archive: Could not find EOCD"
    );
}

#[test]
fn rejects_zip_with_bad_crc() {
    let input = archive().file("main.tf", "abc").bad_crc().build_zip();
    assert_eq!(fail(&input), "archive is corrupt: Invalid checksum");
}

#[test]
fn rejects_oversized_extension_header() {
    let input = archive()
        .tar_entry(
            "././@LongLink",
            EntryType::GNULongName,
            vec![b'a'; MAX_EXTENSION_HEADER_BYTES as usize + 1],
        )
        .file("main.tf", "")
        .build_tar_gz();
    assert_eq!(
        fail(&input),
        "archive is corrupt: extended header of 1048577 bytes is larger than 1048576"
    );
}

#[test]
fn rejects_pax_size_that_disagrees_with_the_header() {
    let input = archive()
        .file("main.tf", "abc")
        .pax("size", "0")
        .build_tar_gz();
    assert_eq!(
        fail(&input),
        "archive is corrupt: pax size disagrees with header size"
    );
}
