//! What the output is made of: modes, long names, content and order, the same bytes from a tar
//! and a zip, multi-member gzip, and I/O failures that are the server's, not the upload's.

use super::*;

#[test]
fn modes_keep_only_the_executable_bit() {
    let input = module()
        .file("run.sh", "#!/bin/sh\n")
        .mode(0o700)
        .file("setuid", "")
        .mode(0o4755)
        .file("private", "")
        .mode(0o600)
        .file("world", "")
        .mode(0o666)
        .dir("d/")
        .mode(0o700)
        .build_tar_gz();
    let (_, entries) = ok(&input);
    assert_eq!(
        entries,
        [
            "f 644 main.tf 20",
            "f 644 README.md 4",
            "f 755 run.sh 10",
            "f 755 setuid 0",
            "f 644 private 0",
            "f 644 world 0",
            "d 755 d/ 0",
        ]
    );
}

#[test]
fn long_names_from_gnu_and_pax_headers() {
    let gnu = format!("modules/{}/main.tf", "a".repeat(120));
    let pax = format!("modules/{}/vars.tf", "b".repeat(120));
    let input = module()
        .file(&gnu, "x")
        .gnu_long_name()
        .file("truncated-name-ignored", "yz")
        .pax("path", &pax)
        .pax("mtime", "1704164646.5")
        .build_tar_gz();
    let (_, entries) = ok(&input);
    assert_eq!(
        entries,
        [
            "f 644 main.tf 20".to_string(),
            "f 644 README.md 4".to_string(),
            format!("f 644 {gnu} 1"),
            format!("f 644 {pax} 2"),
        ]
    );
}

#[test]
fn output_content_and_order_are_preserved() {
    let input = archive()
        .file("z.tf", "zzz")
        .file("a.tf", "aaaa")
        .build_tar_gz();
    let (_, output) = run(&input, &ArchiveLimits::default()).unwrap();
    let mut archive = tar::Archive::new(GzDecoder::new(&output[..]));
    let contents: Vec<(String, String)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            (e.path().unwrap().display().to_string(), s)
        })
        .collect();
    assert_eq!(
        contents,
        [
            ("z.tf".into(), "zzz".into()),
            ("a.tf".into(), "aaaa".into())
        ]
    );
}

#[test]
fn output_is_deterministic_across_formats() {
    let module = || {
        archive()
            .dir("m/")
            .file("m/main.tf", "a")
            .file("m/x.sh", "b")
            .mode(0o755)
    };
    let tar = module().build_tar_gz();
    let zip = module().build_zip();
    let (from_tar, tar_out) = run(&tar, &ArchiveLimits::default()).unwrap();
    let (from_zip, zip_out) = run(&zip, &ArchiveLimits::default()).unwrap();
    assert_eq!(tar_out, zip_out);
    assert_eq!(from_tar, from_zip);
    // And the same input twice gives the same bytes.
    assert_eq!(run(&tar, &ArchiveLimits::default()).unwrap().1, tar_out);
}

#[test]
fn zip_written_by_the_zip_crate() {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::from_date_and_time(2024, 1, 2, 3, 4, 6).unwrap());
    writer.add_directory("mod/", options).unwrap();
    writer.start_file("mod/main.tf", options).unwrap();
    writer.write_all(b"locals {}\n").unwrap();
    writer
        .start_file("mod/hook.sh", options.unix_permissions(0o755))
        .unwrap();
    writer.write_all(b"#!/bin/sh\n").unwrap();
    writer.add_directory("mod/modules/x/", options).unwrap();
    writer
        .start_file(
            "mod/modules/x/main.tf",
            options.compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
    writer.write_all(b"# x\n").unwrap();
    let input = writer.finish().unwrap().into_inner();

    let (normalized, entries) = ok(&input);
    assert_eq!(
        entries,
        [
            "f 644 main.tf 10",
            "f 755 hook.sh 10",
            "d 755 modules/x/ 0",
            "f 644 modules/x/main.tf 4",
        ]
    );
    assert_eq!(normalized.stripped_prefix.as_deref(), Some("mod"));
    assert_eq!(normalized.files, 3);
    assert_eq!(normalized.unpacked_bytes, 24);
}

#[test]
fn multi_member_gzip_is_read_whole() {
    let tar = module().build_tar();
    let (head, tail) = tar.split_at(512 * 3);
    let mut input = gzip(head);
    input.extend(gzip(tail));
    let (_, entries) = ok(&input);
    assert_eq!(entries, ["f 644 main.tf 20", "f 644 README.md 4"]);
}

#[test]
fn input_is_read_from_its_current_position() {
    let mut input = b"junk".to_vec();
    input.extend(module().build_tar_gz());
    let mut cursor = Cursor::new(input);
    cursor.seek(SeekFrom::Start(4)).unwrap();
    let mut output = Vec::new();
    let normalized = normalize_archive(cursor, &mut output, &ArchiveLimits::default()).unwrap();
    assert_eq!(normalized.files, 2);
}

#[test]
fn dos_dates_convert_to_unix_time() {
    assert_eq!(zip_file::days_from_civil(1970, 1, 1), 0);
    assert_eq!(zip_file::days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(
        zip_file::days_from_civil(2024, 1, 2) * 86_400 + 11_046,
        MTIME as i64
    );
}

#[test]
fn output_errors_are_io_errors() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let err = normalize_archive(
        Cursor::new(module().build_tar_gz()),
        Full,
        &ArchiveLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::Io(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "I/O error while normalising the archive: disk full"
    );
}
