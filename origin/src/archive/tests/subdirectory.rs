//! Selecting one directory of the archive as the module root (`modules/sub`, `*/modules/sub`).

use super::*;

#[test]
fn subdir_glob_selects_a_module_of_a_github_tarball() {
    let (normalized, entries) = ok_subdir(&github_tarball().build_tar_gz(), "*/modules/sub");
    assert_eq!(entries, SUB_ENTRIES);
    assert_eq!(
        normalized.stripped_prefix.as_deref(),
        Some("repo-abc123/modules/sub")
    );
    assert_eq!(normalized.files, 2);
    assert_eq!(normalized.unpacked_bytes, 16 + 10);
}

#[test]
fn subdir_literal_path_selects_the_same_module() {
    let input = github_tarball().build_tar_gz();
    let (_, glob) = run_subdir(&input, &ArchiveLimits::default(), "*/modules/sub").unwrap();
    for select in [
        "repo-abc123/modules/sub",
        "/repo-abc123/modules/sub/",
        "./repo-abc123//./modules/sub",
    ] {
        let (normalized, output) = run_subdir(&input, &ArchiveLimits::default(), select).unwrap();
        assert_eq!(output, glob, "{select}");
        assert_eq!(
            normalized.stripped_prefix.as_deref(),
            Some("repo-abc123/modules/sub"),
            "{select}"
        );
    }
}

#[test]
fn subdir_star_selects_the_whole_repository() {
    let (normalized, entries) = ok_subdir(&github_tarball().build_tar_gz(), "*");
    assert_eq!(
        entries,
        [
            "f 644 main.tf 16",
            "f 644 README.md 7",
            "d 755 modules/ 0",
            "d 755 modules/sub/ 0",
            "f 644 modules/sub/main.tf 16",
            "d 755 modules/sub/scripts/ 0",
            "f 755 modules/sub/scripts/run.sh 10",
        ]
    );
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("repo-abc123"));
}

#[test]
fn subdir_empty_pattern_is_the_archive_root() {
    let input = github_tarball().build_tar_gz();
    let whole = run(&input, &ArchiveLimits::default()).unwrap();
    assert_eq!(whole.0.stripped_prefix.as_deref(), Some("repo-abc123"));
    for select in ["", ".", "/", "./"] {
        assert_eq!(
            run_subdir(&input, &ArchiveLimits::default(), select).unwrap(),
            whole,
            "{select:?}"
        );
    }
    // Including its refusals.
    let input = module().symlink("passwd", "/etc/passwd").build_tar_gz();
    assert_eq!(
        fail_subdir(&input, ""),
        "unexpected symlink or hard link found: passwd"
    );
}

#[test]
fn subdir_selection_is_not_stripped_further() {
    // The caller says where the module is: a lone folder inside it is part of the module,
    // not a wrapper, so there is no root .tf file.
    assert_eq!(
        fail_subdir(&github_tarball().build_tar_gz(), "*/modules"),
        "archive has no .tf or .tf.json file at its module root"
    );
}

#[test]
fn subdir_that_does_not_exist() {
    let input = github_tarball().build_tar_gz();
    assert_eq!(
        fail_subdir(&input, "*/modules/other"),
        "the archive has no directory \"*/modules/other\""
    );
    // The top folder is not skipped for the caller.
    assert_eq!(
        fail_subdir(&input, "modules/sub"),
        "the archive has no directory \"modules/sub\""
    );
    assert_eq!(
        fail_subdir(&input, "*/modules/sub/main.tf/x"),
        "the archive has no directory \"*/modules/sub/main.tf/x\""
    );
    // A file is not a directory.
    assert_eq!(
        fail_subdir(&input, "*/modules/sub/main.tf"),
        "the archive has no directory \"*/modules/sub/main.tf\""
    );
    // Nor is a link, which is then not refused: it is not in any selected directory.
    let input = archive()
        .dir("repo/")
        .file("repo/main.tf", "")
        .symlink("repo/sub", "../elsewhere")
        .build_tar_gz();
    assert_eq!(
        fail_subdir(&input, "*/sub"),
        "the archive has no directory \"*/sub\""
    );
    assert_eq!(
        fail_subdir(&archive().build_tar_gz(), "*"),
        "the archive has no directory \"*\""
    );
}

#[test]
fn subdir_matching_several_directories() {
    let input = archive()
        .pax_global_header(&[("comment", b"abc")])
        .dir("a/")
        .file("a/main.tf", "")
        .dir("b/")
        .build_tar_gz();
    assert_eq!(
        fail_subdir(&input, "*"),
        "the archive has more than one directory matching \"*\""
    );
    // Directories without entries of their own count too; files of a matching name do not.
    let input = archive()
        .file("main.tf", "")
        .file("a/modules/sub/main.tf", "")
        .file("b/modules/sub/main.tf", "")
        .file("c/modules/sub", "")
        .build_tar_gz();
    assert_eq!(
        fail_subdir(&input, "*/modules/sub"),
        "the archive has more than one directory matching \"*/modules/sub\""
    );
    let (normalized, entries) = ok_subdir(&input, "a/*/sub");
    assert_eq!(entries, ["f 644 main.tf 0"]);
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("a/modules/sub"));
    // Only "c/modules/sub" is a file, so `*/*/sub` still matches two directories...
    assert_eq!(
        fail_subdir(&input, "*/*/sub"),
        "the archive has more than one directory matching \"*/*/sub\""
    );
    // ...while "c/modules" is the one directory holding no directory "sub".
    assert_eq!(
        fail_subdir(&input, "c/*/sub"),
        "the archive has no directory \"c/*/sub\""
    );
}

#[test]
fn subdir_patterns_that_are_refused() {
    let input = github_tarball().build_tar_gz();
    let cases = [
        ("..", "a `..` component is not allowed"),
        ("*/../x", "a `..` component is not allowed"),
        (
            "*\\modules",
            "a backslash is not allowed; separate directories with `/`",
        ),
        ("mod\0ules", "a NUL byte is not allowed"),
        (
            "repo-*/modules",
            "only a whole component can be a wildcard (`*`, not `foo*`)",
        ),
        (
            "*/modules/su?",
            "only a whole component can be a wildcard (`*`, not `foo*`)",
        ),
        (
            "[r]epo-abc123",
            "only a whole component can be a wildcard (`*`, not `foo*`)",
        ),
    ];
    for (select, reason) in cases {
        assert_eq!(
            fail_subdir(&input, select),
            format!("invalid subdirectory {select:?}: {reason}")
        );
    }
    assert_eq!(
        fail_subdir(&input, "a/../b"),
        "invalid subdirectory \"a/../b\": a `..` component is not allowed"
    );
    // Refused before the body is even looked at.
    assert_eq!(
        fail_subdir(b"not an archive", ".."),
        "invalid subdirectory \"..\": a `..` component is not allowed"
    );
}

#[test]
fn subdir_of_a_zip() {
    let input = archive()
        .dir("repo-abc123/")
        .file("repo-abc123/main.tf", "module \"sub\" {}\n")
        .symlink("repo-abc123/examples/sub", "../modules/sub")
        .dir("repo-abc123/modules/sub/")
        .file("repo-abc123/modules/sub/main.tf", "variable \"v\" {}\n")
        .dir("repo-abc123/modules/sub/scripts/")
        .file("repo-abc123/modules/sub/scripts/run.sh", "#!/bin/sh\n")
        .mode(0o755)
        .build_zip();
    let (normalized, output) =
        run_subdir(&input, &ArchiveLimits::default(), "*/modules/sub").unwrap();
    assert_eq!(list(&output), SUB_ENTRIES);
    assert_eq!(
        normalized.stripped_prefix.as_deref(),
        Some("repo-abc123/modules/sub")
    );
    // The same module from a tar gives the same bytes.
    let (_, from_tar) = run_subdir(
        &github_tarball().build_tar_gz(),
        &ArchiveLimits::default(),
        "*/modules/sub",
    )
    .unwrap();
    assert_eq!(output, from_tar);

    assert_eq!(
        fail_subdir(&input, "*/examples/sub"),
        "the archive has no directory \"*/examples/sub\""
    );
    let input = archive()
        .file("repo/main.tf", "")
        .symlink("repo/sub/passwd", "/etc/passwd")
        .file("repo/sub/main.tf", "")
        .build_zip();
    assert_eq!(
        fail_subdir(&input, "*/sub"),
        "unexpected symlink or hard link found: repo/sub/passwd"
    );
}

#[test]
fn subdir_without_terraform_files() {
    let input = github_tarball()
        .dir("repo-abc123/docs/")
        .file("repo-abc123/docs/index.md", "")
        .dir("repo-abc123/empty/")
        .dir("repo-abc123/empty/nested/")
        .build_tar_gz();
    assert_eq!(
        fail_subdir(&input, "*/docs"),
        "archive has no .tf or .tf.json file at its module root"
    );
    assert_eq!(fail_subdir(&input, "*/empty"), "archive is empty");
}

#[test]
fn subdir_of_a_tar_without_directory_entries() {
    let input = archive()
        .file("repo-abc123/main.tf", "")
        .file("repo-abc123/modules/sub/main.tf", "variable \"v\" {}\n")
        .file("repo-abc123/modules/sub/scripts/run.sh", "")
        .build_tar_gz();
    for select in ["*/modules/sub", "repo-abc123/modules/sub", "*/*/sub"] {
        let (normalized, entries) = ok_subdir(&input, select);
        assert_eq!(
            entries,
            ["f 644 main.tf 16", "f 644 scripts/run.sh 0"],
            "{select}"
        );
        assert_eq!(
            normalized.stripped_prefix.as_deref(),
            Some("repo-abc123/modules/sub"),
            "{select}"
        );
    }
    let (normalized, entries) = ok_subdir(&input, "*");
    assert_eq!(
        entries,
        [
            "f 644 main.tf 0",
            "f 644 modules/sub/main.tf 16",
            "f 644 modules/sub/scripts/run.sh 0",
        ]
    );
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("repo-abc123"));
}
