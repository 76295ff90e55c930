//! The proxy's reading of an upstream registry's download answer (`X-Terraform-Get`, go-getter
//! syntax) on arbitrary text: whatever it accepts is a fetch from one of the two configured
//! hosts, with a checksum that is sha256 hex and a subdirectory the archive code takes.
#![no_main]
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tfreg_origin::archive::{normalize_archive_subdir, ArchiveError, ArchiveLimits};
use tfreg_origin::proxy::source::{resolve_source, shown_location, FetchOrigins};
use url::Url;

fuzz_target!(|location: &str| {
    let origins = FetchOrigins {
        upstream: Url::parse("https://registry.terraform.io/").unwrap(),
        github_archive: Url::parse("https://codeload.github.com/").unwrap(),
    };
    let download_url =
        Url::parse("https://registry.terraform.io/v1/modules/acme/vpc/aws/1.0.0/download").unwrap();
    let _ = shown_location(location);
    let Ok(source) = resolve_source(location, &download_url, &origins) else {
        return;
    };
    assert!(
        origins.permits(&source.url),
        "{location:?} fetches {}",
        source.url
    );
    assert!(source.url.username().is_empty() && source.url.password().is_none());
    if let Some(sha256) = &source.sha256 {
        assert!(
            sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()),
            "{sha256:?}"
        );
    }
    if let Some(select) = &source.select {
        let refused = normalize_archive_subdir(
            Cursor::new(&[][..]),
            std::io::sink(),
            &ArchiveLimits::default(),
            select,
        );
        assert!(
            !matches!(refused, Err(ArchiveError::InvalidSubdirectory { .. })),
            "{location:?} selects {select:?}, which the archive code refuses"
        );
    }
    let _ = source.describe();
});
