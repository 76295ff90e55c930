//! Hostile entries around a selected subdirectory: ignored outside it when harmless there,
//! refused inside it, and still refused anywhere when their names attack the unpacker.

use super::*;

#[test]
fn subdir_ignores_links_special_files_and_duplicates_outside_it() {
    let input = github_tarball()
        .dir("repo-abc123/examples/")
        .symlink("repo-abc123/examples/sub", "../modules/sub")
        .hardlink("repo-abc123/examples/hard", "repo-abc123/main.tf")
        .fifo("repo-abc123/examples/fifo")
        .file("repo-abc123/examples/main.tf", "")
        .file("repo-abc123/examples/./main.tf", "")
        .symlink("repo-abc123/modules/sub-link", "sub")
        .symlink("LICENSE", "repo-abc123/LICENSE")
        .build_tar_gz();
    for select in ["*/modules/sub", "repo-abc123/modules/sub"] {
        let (_, entries) = ok_subdir(&input, select);
        assert_eq!(entries, SUB_ENTRIES, "{select}");
    }
    // Without a selection they are all in the module.
    assert_eq!(
        fail(&input),
        "unexpected symlink or hard link found: repo-abc123/examples/sub"
    );
    // A link of a matching name is no directory, so `*` still matches only one.
    let input = archive()
        .symlink("b/sub", "../a/sub")
        .file("a/sub/main.tf", "")
        .build_tar_gz();
    let (normalized, entries) = ok_subdir(&input, "*/sub");
    assert_eq!(entries, ["f 644 main.tf 0"]);
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("a/sub"));
}

#[test]
fn subdir_refuses_links_special_files_and_duplicates_inside_it() {
    let link = github_tarball()
        .symlink("repo-abc123/modules/sub/scripts/passwd", "/etc/passwd")
        .build_tar_gz();
    let special = github_tarball()
        .char_device("repo-abc123/modules/sub/tty")
        .build_tar_gz();
    let duplicate = github_tarball()
        .file("repo-abc123/modules/sub/./main.tf", "")
        .build_tar_gz();
    // A file where the selected directory is.
    let file_and_dir = github_tarball()
        .file("repo-abc123/modules/sub", "")
        .build_tar_gz();
    // A link where the selected directory is, which entries are then written through.
    let link_as_dir = archive()
        .symlink("repo/sub", "/etc")
        .file("repo/sub/main.tf", "")
        .build_tar_gz();
    for select in ["*/modules/sub", "repo-abc123/modules/sub"] {
        assert_eq!(
            fail_subdir(&link, select),
            "unexpected symlink or hard link found: repo-abc123/modules/sub/scripts/passwd",
            "{select}"
        );
        assert_eq!(
            fail_subdir(&special, select),
            "unexpected special file (device, fifo or other) found: \
             repo-abc123/modules/sub/tty",
            "{select}"
        );
        assert_eq!(
            fail_subdir(&duplicate, select),
            "duplicate path in archive: repo-abc123/modules/sub/./main.tf",
            "{select}"
        );
        assert_eq!(
            fail_subdir(&file_and_dir, select),
            "duplicate path in archive: repo-abc123/modules/sub",
            "{select}"
        );
    }
    for select in ["*/sub", "repo/sub"] {
        assert_eq!(
            fail_subdir(&link_as_dir, select),
            "unexpected symlink or hard link found: repo/sub",
            "{select}"
        );
    }
    // A link is refused even when it is all the selected directory holds.
    let input = archive()
        .file("repo/main.tf", "")
        .symlink("repo/sub/main.tf", "../main.tf")
        .build_tar_gz();
    assert_eq!(
        fail_subdir(&input, "*/sub"),
        "unexpected symlink or hard link found: repo/sub/main.tf"
    );
}

#[test]
fn subdir_still_refuses_hostile_names_outside_it() {
    let cases: [(ArchiveBuilder, &str); 4] = [
        (
            github_tarball().file("repo-abc123/examples/../../../evil", ""),
            "path with a `..` component found in archive: repo-abc123/examples/../../../evil",
        ),
        (
            github_tarball().symlink("../evil", "/etc/passwd"),
            "path with a `..` component found in archive: ../evil",
        ),
        (
            github_tarball().file("/etc/cron.d/evil", ""),
            "absolute path found in archive: /etc/cron.d/evil",
        ),
        (
            github_tarball().file(b"caf\xe9", ""),
            "invalid path in archive: caf\u{fffd}",
        ),
    ];
    for (input, msg) in cases {
        assert_eq!(fail_subdir(&input.build_tar_gz(), "*/modules/sub"), msg);
    }
    let input = archive()
        .file("repo/modules/sub/main.tf", "")
        .file("repo/../../evil", "")
        .build_zip();
    assert_eq!(
        fail_subdir(&input, "*/modules/sub"),
        "path with a `..` component found in archive: repo/../../evil"
    );
}

#[test]
fn subdir_limits_count_entries_left_out() {
    // The tarball has 8 entries, 3 of them in the module.
    let input = github_tarball().build_tar_gz();
    let limits = ArchiveLimits {
        max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
        max_files: 7,
    };
    assert_eq!(
        fail_subdir_with(&input, &limits, "*/modules/sub"),
        "archive holds more than 7 entries"
    );
    let limits = ArchiveLimits {
        max_files: 8,
        ..limits
    };
    assert!(run_subdir(&input, &limits, "*/modules/sub").is_ok());

    let zeros = vec![0; 20 << 20];
    let tar = github_tarball()
        .file("repo-abc123/zeros", &zeros)
        .build_tar_gz();
    let zip = archive()
        .file("repo/modules/sub/main.tf", "")
        .file("repo/zeros", &zeros)
        .declare_size(10)
        .build_zip();
    assert!(tar.len() < 100 * 1024 && zip.len() < 100 * 1024);
    assert_eq!(
        fail_subdir_with(&tar, &ONE_MB, "*/modules/sub"),
        "archive unpacks to more than 1048576 bytes"
    );
    assert_eq!(
        fail_subdir_with(&zip, &ONE_MB, "*/modules/sub"),
        "archive unpacks to more than 1048576 bytes"
    );
}
