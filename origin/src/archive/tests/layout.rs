//! Where the module root ends up: archives already at the root, a wrapping folder stripped,
//! `./` prefixes dropped, and archives with nothing to serve.

use super::*;

#[test]
fn plain_root_tar_gz() {
    let input = module()
        .dir("modules/")
        .dir("modules/x/")
        .file("modules/x/main.tf", "variable \"v\" {}\n")
        .build_tar_gz();
    let (normalized, entries) = ok(&input);
    assert_eq!(
        entries,
        [
            "f 644 main.tf 20",
            "f 644 README.md 4",
            "d 755 modules/ 0",
            "d 755 modules/x/ 0",
            "f 644 modules/x/main.tf 16",
        ]
    );
    assert_eq!(normalized.files, 3);
    assert_eq!(normalized.unpacked_bytes, 20 + 4 + 16);
    assert_eq!(normalized.stripped_prefix, None);
}

#[test]
fn github_style_top_folder_is_stripped() {
    // What `git archive --prefix=repo-1.2.0/` and GitHub's release tarballs look like.
    let input = archive()
        .pax_global_header(&[("comment", b"0123456789abcdef0123456789abcdef01234567")])
        .dir("repo-1.2.0/")
        .file("repo-1.2.0/main.tf", "")
        .dir("repo-1.2.0/modules/")
        .dir("repo-1.2.0/modules/x/")
        .file("repo-1.2.0/modules/x/main.tf", "")
        .build_tar_gz();
    let (normalized, entries) = ok(&input);
    assert_eq!(
        entries,
        [
            "f 644 main.tf 0",
            "d 755 modules/ 0",
            "d 755 modules/x/ 0",
            "f 644 modules/x/main.tf 0",
        ]
    );
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("repo-1.2.0"));
}

#[test]
fn top_folder_without_its_own_entry_is_stripped() {
    let input = archive()
        .file("mod/main.tf", "")
        .file("mod/outputs.tf.json", "{}")
        .build_tar_gz();
    let (normalized, entries) = ok(&input);
    assert_eq!(entries, ["f 644 main.tf 0", "f 644 outputs.tf.json 2"]);
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("mod"));
}

#[test]
fn folder_is_kept_when_root_has_terraform_files() {
    let input = archive().file("main.tf", "").build_tar_gz();
    assert_eq!(ok(&input).0.stripped_prefix, None);
    // A lone top-level folder next to a root .tf is a submodule, not a wrapper.
    let input = archive()
        .dir("modules/")
        .file("modules/main.tf", "")
        .file("main.tf", "")
        .build_tar_gz();
    let (normalized, entries) = ok(&input);
    assert_eq!(normalized.stripped_prefix, None);
    assert_eq!(
        entries,
        [
            "d 755 modules/ 0",
            "f 644 modules/main.tf 0",
            "f 644 main.tf 0"
        ]
    );
}

#[test]
fn dot_slash_prefixes_are_removed() {
    let input = archive()
        .dir("./")
        .file("./main.tf", "")
        .dir("./sub/")
        .file("./sub/./x.tf", "")
        .build_tar_gz();
    let (normalized, entries) = ok(&input);
    assert_eq!(
        entries,
        ["f 644 main.tf 0", "d 755 sub/ 0", "f 644 sub/x.tf 0"]
    );
    assert_eq!(normalized.stripped_prefix, None);
}

#[test]
fn dot_slash_folder_is_stripped() {
    let input = archive()
        .dir("./")
        .dir("./mod/")
        .file("./mod/main.tf", "")
        .build_tar_gz();
    let (normalized, entries) = ok(&input);
    assert_eq!(entries, ["f 644 main.tf 0"]);
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("mod"));
}

#[test]
fn pax_global_header_at_root_is_skipped() {
    let input = archive()
        .pax_global_header(&[("comment", b"abc")])
        .file("main.tf", "")
        .build_tar_gz();
    let (normalized, entries) = ok(&input);
    assert_eq!(entries, ["f 644 main.tf 0"]);
    assert_eq!(normalized.files, 1);
}

#[test]
fn rejects_empty_archives() {
    assert_eq!(fail(&archive().build_tar_gz()), "archive is empty");
    assert_eq!(fail(&archive().build_zip()), "archive is empty");
    let only_dirs = archive().dir("./").dir("a/").dir("a/b/").build_tar_gz();
    assert_eq!(fail(&only_dirs), "archive is empty");
    let only_dirs = archive().dir("a/").build_zip();
    assert_eq!(fail(&only_dirs), "archive is empty");
}

#[test]
fn rejects_archives_without_root_terraform_files() {
    let msg = "archive has no .tf or .tf.json file at its module root";
    assert_eq!(fail(&archive().file("README.md", "").build_tar_gz()), msg);
    // Two top-level folders: nothing to strip.
    let input = archive()
        .file("a/main.tf", "")
        .file("b/main.tf", "")
        .build_tar_gz();
    assert_eq!(fail(&input), msg);
    // Only one level is stripped.
    let input = archive().file("repo/src/main.tf", "").build_tar_gz();
    assert_eq!(fail(&input), msg);
    // Terraform skips hidden files.
    assert_eq!(fail(&archive().file(".main.tf", "").build_tar_gz()), msg);
    assert_eq!(fail(&archive().file("main.tf.bak", "").build_zip()), msg);
}
