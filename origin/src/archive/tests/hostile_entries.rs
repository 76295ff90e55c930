//! Entries an unpacker can be tricked with: paths that climb out, links, special files and
//! duplicates.

use super::*;

#[test]
fn rejects_absolute_paths() {
    let input = module().file("/etc/cron.d/evil", "").build_tar_gz();
    assert_eq!(
        fail(&input),
        "absolute path found in archive: /etc/cron.d/evil"
    );
    let input = archive()
        .file("main.tf", "")
        .file("C:/Windows/evil.dll", "")
        .build_zip();
    assert_eq!(
        fail(&input),
        "absolute path found in archive: C:/Windows/evil.dll"
    );
}

#[test]
fn rejects_colons_anywhere_in_a_path() {
    // Found by the archive_raw fuzzer (tests/fuzz/regressions/archive_raw/): a drive in the
    // middle of a name passed, became the first component once the single top folder was
    // stripped, and the output was refused as absolute when normalised again.
    let input = archive()
        .file("repo-abc/main.tf", "")
        .file("repo-abc/m:odules/sub/main.tf", "")
        .build_zip();
    assert_eq!(
        fail(&input),
        "invalid path in archive: repo-abc/m:odules/sub/main.tf"
    );
    let input = archive()
        .file("repo/modules/net/main.tf", "")
        .file("repo/modules/net/c:x.tf", "")
        .build_zip();
    assert_eq!(
        fail_subdir(&input, "modules/net"),
        "invalid path in archive: repo/modules/net/c:x.tf"
    );
    // An NTFS alternate data stream: on Windows `main.tf:hidden` is a stream of main.tf.
    let input = module().file("main.tf:hidden", "").build_tar_gz();
    assert_eq!(fail(&input), "invalid path in archive: main.tf:hidden");
}

#[test]
fn rejects_parent_dir_components() {
    let input = module().file("../evil.tf", "").build_tar_gz();
    assert_eq!(
        fail(&input),
        "path with a `..` component found in archive: ../evil.tf"
    );
    let input = archive()
        .file("main.tf", "")
        .file("a/../../b", "")
        .build_zip();
    assert_eq!(
        fail(&input),
        "path with a `..` component found in archive: a/../../b"
    );
    // Through a pax path, which the name field checks never see.
    let input = module()
        .file("innocent", "")
        .pax("path", "x/../../evil")
        .build_tar_gz();
    assert_eq!(
        fail(&input),
        "path with a `..` component found in archive: x/../../evil"
    );
}

#[test]
fn rejects_invalid_paths() {
    let input = module().file("a\\..\\evil.tf", "").build_tar_gz();
    assert_eq!(fail(&input), "invalid path in archive: a\\..\\evil.tf");
    let input = module().file(b"caf\xe9.tf", "").build_tar_gz();
    assert_eq!(fail(&input), "invalid path in archive: caf\u{fffd}.tf");
    let input = module()
        .file("x", "")
        .pax("path", "evil.tf\0.txt")
        .build_tar_gz();
    assert_eq!(fail(&input), "invalid path in archive: evil.tf\\u{0}.txt");
    let input = archive()
        .file("main.tf", "")
        .file(b"\xff\xfe", "")
        .build_zip();
    assert_eq!(fail(&input), "invalid path in archive: \u{fffd}\u{fffd}");
    // A file cannot be the root directory.
    let input = module().file(".", "x").build_tar_gz();
    assert_eq!(fail(&input), "invalid path in archive: .");
}

#[test]
fn rejects_symlinks() {
    let input = module().symlink("passwd", "/etc/passwd").build_tar_gz();
    assert_eq!(
        fail(&input),
        "unexpected symlink or hard link found: passwd"
    );
    let input = archive()
        .file("main.tf", "")
        .symlink("passwd", "/etc/passwd")
        .build_zip();
    assert_eq!(
        fail(&input),
        "unexpected symlink or hard link found: passwd"
    );
}

#[test]
fn rejects_hard_links() {
    let input = module().hardlink("shadow", "/etc/shadow").build_tar_gz();
    assert_eq!(
        fail(&input),
        "unexpected symlink or hard link found: shadow"
    );
}

#[test]
fn rejects_special_files() {
    let msg = |p: &str| format!("unexpected special file (device, fifo or other) found: {p}");
    for (name, entry_type) in [
        ("fifo", EntryType::Fifo),
        ("tty", EntryType::Char),
        ("sda", EntryType::Block),
        ("sparse", EntryType::GNUSparse),
        ("volume", EntryType::new(b'V')),
    ] {
        let input = module().tar_entry(name, entry_type, "").build_tar_gz();
        assert_eq!(fail(&input), msg(name), "{entry_type:?}");
    }
    let input = module()
        .file("holes", "")
        .pax("GNU.sparse.major", "1")
        .pax("GNU.sparse.minor", "0")
        .build_tar_gz();
    assert_eq!(fail(&input), msg("holes"));
    let zip = || archive().file("main.tf", "");
    for (name, input) in [
        ("fifo", zip().fifo("fifo")),
        ("null", zip().char_device("null").mode(0o666)),
        ("sock", zip().socket("sock").mode(0o755)),
    ] {
        assert_eq!(fail(&input.build_zip()), msg(name), "{name}");
    }
}

#[test]
fn rejects_duplicate_paths() {
    let input = module().file("./main.tf", "").build_tar_gz();
    assert_eq!(fail(&input), "duplicate path in archive: ./main.tf");
    let input = archive()
        .file("main.tf", "")
        .file("./main.tf", "")
        .build_zip();
    assert_eq!(fail(&input), "duplicate path in archive: ./main.tf");
    let input = module().dir("sub/").dir("sub").build_tar_gz();
    assert_eq!(fail(&input), "duplicate path in archive: sub");
}

#[test]
fn rejects_a_path_that_is_both_file_and_directory() {
    let input = module().file("x", "").file("x/y.tf", "").build_tar_gz();
    assert_eq!(fail(&input), "duplicate path in archive: x/y.tf");
    let input = module().file("x/y.tf", "").file("x", "").build_tar_gz();
    assert_eq!(fail(&input), "duplicate path in archive: x");
}
