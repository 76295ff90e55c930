//! The builder's own checks: what it writes reads back as described with the `tar` and `zip`
//! crates.

use std::io::{self, Read};

use super::zip_writer::dos_time_and_date;
use super::*;

#[test]
fn dos_time_of_the_default_mtime() {
    // 2024-01-02T03:04:06Z
    let time = (3 << 11) | (4 << 5) | (6 / 2);
    let date = ((2024 - 1980) << 9) | (1 << 5) | 2;
    assert_eq!(dos_time_and_date(DEFAULT_MTIME), (time, date));
}

#[test]
fn top_folder_lists_each_directory_once_before_its_contents() {
    let tar = ArchiveBuilder::new()
        .pax_global_header(&[("comment", b"abc")])
        .top_folder("repo-abc")
        .file("main.tf", "")
        .dir("modules/")
        .file("modules/sub/main.tf", "")
        .file("modules/sub/vars.tf", "")
        .file("../escape", "")
        .outside_top_folder()
        .build_tar();
    let mut archive = tar::Archive::new(&tar[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "pax_global_header",
            "repo-abc/",
            "repo-abc/main.tf",
            "repo-abc/modules/",
            "repo-abc/modules/sub/",
            "repo-abc/modules/sub/main.tf",
            "repo-abc/modules/sub/vars.tf",
            "../escape",
        ]
    );
}

#[test]
fn long_names_survive_the_tar_crate() {
    let deep = format!("{}/{}", "d".repeat(120), "f".repeat(90));
    let flat = "x".repeat(200);
    let gnu = format!("g/{}", "y".repeat(150));
    let tar = ArchiveBuilder::new()
        .file(&deep, "1")
        .file(&flat, "2")
        .file(&gnu, "3")
        .gnu_long_name()
        .symlink("l", "t".repeat(150))
        .build_tar();
    let mut archive = tar::Archive::new(&tar[..]);
    let entries: Vec<(String, Option<String>)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap());
            (
                String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                link,
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (deep, None),
            (flat, None),
            (gnu, None),
            ("l".to_owned(), Some("t".repeat(150))),
        ]
    );
}

#[test]
fn zips_read_back_with_the_zip_crate() {
    let zip = ArchiveBuilder::new()
        .dir("m/")
        .file("m/main.tf", "abc")
        .file("m/run.sh", "#!/bin/sh\n")
        .mode(0o755)
        .symlink("m/link", "main.tf")
        .build_zip();
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip)).unwrap();
    let mut seen = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut data = String::new();
        file.read_to_string(&mut data).unwrap();
        seen.push((file.name().to_owned(), file.unix_mode().unwrap(), data));
    }
    assert_eq!(
        seen,
        [
            ("m/".to_owned(), 0o040_755, String::new()),
            ("m/main.tf".to_owned(), 0o100_644, "abc".to_owned()),
            ("m/run.sh".to_owned(), 0o100_755, "#!/bin/sh\n".to_owned()),
            ("m/link".to_owned(), 0o120_777, "main.tf".to_owned()),
        ]
    );
}
