use super::*;
use crate::names::ARCHIVE_FILE_NAME;

#[test]
fn prefixes_are_normalised() {
    assert_eq!(normalize_prefix("archives/"), "archives/");
    assert_eq!(normalize_prefix("/archives"), "archives/");
    assert_eq!(normalize_prefix("a/b"), "a/b/");
    assert_eq!(normalize_prefix(""), "");
    assert_eq!(normalize_prefix("/"), "");
}

#[test]
fn only_canonical_versions_name_a_version_folder() {
    assert!(canonical_version("1.2.0").is_some());
    assert!(canonical_version("1.2.0-rc.1").is_some());
    assert!(canonical_version("v1.2.0").is_none());
    assert!(canonical_version("notes").is_none());
    assert!(canonical_version(ARCHIVE_FILE_NAME).is_none());
}

#[test]
fn metadata_values_are_kept_to_visible_ascii() {
    let url = "https://github.com/acme/vpc/archive/v1.0.0.tar.gz?x=%20";
    assert_eq!(header_safe(url), url, "an ASCII URL is stored unchanged");
    assert_eq!(
        header_safe("https://example.com/modulé dir"),
        "https://example.com/modul%C3%A9%20dir"
    );
}

fn meta(origin_url: Option<String>) -> VersionMeta {
    VersionMeta {
        sha256: "ab".repeat(32),
        size: 1,
        uploaded_at: "2026-01-01T00:00:00Z".into(),
        uploader: "ci".into(),
        source: "pin".into(),
        origin_url,
        repository_url: None,
    }
}

#[test]
fn any_uploader_name_is_stored_as_ascii_and_read_back_as_it_was() {
    let mut odd = meta(None);
    odd.uploader = "Jürgen ✓ x;tier=master".into();
    let stored = &user_metadata(&odd, "id").unwrap()[META_UPLOADER];
    assert!(stored.bytes().all(|b| b.is_ascii_graphic()), "{stored}");
    assert_eq!(
        tfreg_edge::percent_decode(stored).as_deref(),
        Some(odd.uploader.as_str())
    );
    // Names of the old rule are stored as they always were.
    assert_eq!(
        user_metadata(&meta(None), "id").unwrap()[META_UPLOADER],
        "ci"
    );
}

#[test]
fn the_origin_url_is_metadata_only_when_there_is_one() {
    let without = user_metadata(&meta(None), "id").unwrap();
    assert!(!without.contains_key(META_ORIGIN_URL));
    let with = user_metadata(&meta(Some("https://example.com/a.tgz".into())), "id").unwrap();
    assert_eq!(with[META_ORIGIN_URL], "https://example.com/a.tgz");
}

#[test]
fn metadata_over_the_s3_limit_is_refused_with_a_reason() {
    let long = format!("https://example.com/{}", "a".repeat(2048));
    let error = user_metadata(&meta(Some(long)), "id").unwrap_err();
    assert!(
        error.to_string().contains("over S3's 2048-byte limit"),
        "{error}"
    );
}
