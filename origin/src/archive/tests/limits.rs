//! Decompression bombs and the entry count: the limits hold on what is actually unpacked.

use super::*;

#[test]
fn limits_allow_exactly_the_maximum() {
    let input = module().build_tar_gz();
    let tar_len = module().build_tar().len() as u64;
    let limits = ArchiveLimits {
        max_unpacked_bytes: tar_len,
        max_files: 2,
    };
    assert!(run(&input, &limits).is_ok());
}

#[test]
fn defaults() {
    let limits = ArchiveLimits::default();
    assert_eq!(limits.max_unpacked_bytes, 512 * 1024 * 1024);
    assert_eq!(limits.max_files, 10_000);
}

#[test]
fn rejects_gzip_bomb() {
    let input = module().file("zeros", vec![0; 20 << 20]).build_tar_gz();
    assert!(input.len() < 100 * 1024);
    assert_eq!(
        fail_with(&input, &ONE_MB),
        "archive unpacks to more than 1048576 bytes"
    );
}

#[test]
fn rejects_bomb_hidden_behind_the_end_of_the_tar() {
    // Every tar header is small and honest; the bytes are after the end-of-archive marker,
    // where only counting what the decompressor emits can see them.
    let mut tar = module().build_tar();
    tar.resize(tar.len() + (20 << 20), 0);
    let input = gzip(&tar);
    assert_eq!(
        fail_with(&input, &ONE_MB),
        "archive unpacks to more than 1048576 bytes"
    );
}

#[test]
fn rejects_zip_entry_lying_about_its_size() {
    let input = archive()
        .file("main.tf", "")
        .file("zeros", vec![0; 20 << 20])
        .declare_size(10)
        .build_zip();
    assert!(input.len() < 100 * 1024);
    assert_eq!(
        fail_with(&input, &ONE_MB),
        "archive unpacks to more than 1048576 bytes"
    );
}

#[test]
fn rejects_many_small_files_over_the_size_limit() {
    let limits = ArchiveLimits {
        max_unpacked_bytes: 10,
        max_files: DEFAULT_MAX_FILES,
    };
    let input = archive()
        .file("main.tf", "123456")
        .file("b.tf", "123456")
        .build_zip();
    assert_eq!(
        fail_with(&input, &limits),
        "archive unpacks to more than 10 bytes"
    );
}

#[test]
fn rejects_too_many_entries() {
    let limits = ArchiveLimits {
        max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
        max_files: 3,
    };
    let input = module().dir("d/").file("d/x", "").build_tar_gz();
    assert_eq!(
        fail_with(&input, &limits),
        "archive holds more than 3 entries"
    );
    let input = archive()
        .file("a.tf", "")
        .file("b.tf", "")
        .file("c.tf", "")
        .file("d.tf", "")
        .build_zip();
    assert_eq!(
        fail_with(&input, &limits),
        "archive holds more than 3 entries"
    );
}
