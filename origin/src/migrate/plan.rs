//! What the seed deployment's objects and token items become here, decided without I/O: an
//! S3 key of its layout becomes an [`ArchiveKey`] and a kind, a token item becomes a
//! [`TokenRecord`] under the hash of its value, and everything else a reason why not.

use crate::names::{validate_token_name, ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::TokenRecord;
use tfreg_edge::{bearer_token, hash_token, Tier};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The token name the seed's master token (kept in Secrets Manager there, not in its table)
/// is imported under. Not `master`: that is this registry's own master token, which
/// `tfreg serve` makes on first start when no token of that name exists.
pub const SEED_MASTER_TOKEN_NAME: &str = "seed-master";

/// What the seed registry made an object for, told by its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// `….zip`: the body of a `PUT /v1/modules/…`, stored as sent.
    Upload,
    /// `….tar.gz`: a public module copied in by `POST /v1/pins/…`.
    Pin,
}

impl ArchiveKind {
    /// The [`VersionMeta::source`](crate::storage::VersionMeta::source) it is published with.
    pub fn source(self) -> &'static str {
        match self {
            ArchiveKind::Upload => "upload",
            ArchiveKind::Pin => "pin",
        }
    }
}

/// An object of the seed bucket that names a module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedArchive {
    pub key: ArchiveKey,
    pub kind: ArchiveKind,
}

/// Reads a key of the seed layout, relative to its prefix:
/// `{ns}/{name}/{system}/{version}/{name}-{system}-{version}.zip` (or `.tar.gz`).
pub fn parse_seed_key(relative_key: &str) -> Result<SeedArchive, String> {
    let parts: Vec<&str> = relative_key.split('/').collect();
    let [namespace, name, system, version, file] = parts[..] else {
        return Err(
            "not a module archive of the Python registry's layout ({ns}/{name}/{system}/{version}/{name}-{system}-{version}.zip or .tar.gz)"
                .to_owned(),
        );
    };
    let stem = format!("{name}-{system}-{version}");
    let kind = match file.strip_prefix(stem.as_str()) {
        Some(".zip") => ArchiveKind::Upload,
        Some(".tar.gz") => ArchiveKind::Pin,
        _ => {
            // Key segments are anyone's bytes: escaped, so that a report line stays one line.
            let stem = stem.escape_debug();
            return Err(format!(
                "not a module archive of the Python registry's layout: the file of this version is named {stem}.zip or {stem}.tar.gz"
            ));
        }
    };
    let module = ModuleAddress::new(namespace, name, system).map_err(|e| e.to_string())?;
    let parsed = ModuleVersion::parse(version).map_err(|e| e.to_string())?;
    // `v1.0.0` would parse, but the seed registry never wrote one; only a canonical
    // spelling names one version.
    if parsed.to_string() != version {
        return Err(format!(
            "invalid version {version:?}: this registry keeps versions in canonical semver spelling"
        ));
    }
    Ok(SeedArchive {
        key: ArchiveKey::new(module, parsed),
        kind,
    })
}

/// A token item of the seed table, as read (string attributes; `None` when missing or not a
/// string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedToken {
    pub token_value: Option<String>,
    pub token_name: Option<String>,
    pub permission: Option<String>,
    pub created_at: Option<String>,
}

/// What the seed's token becomes here: its record, stored under the SHA-256 of its value, so
/// that the value the holder already has keeps working.
pub fn plan_token(token: &SeedToken, description: &str) -> Result<TokenRecord, String> {
    let Some(value) = token.token_value.as_deref() else {
        return Err("the item has no token_value".to_owned());
    };
    // The edge takes the value from `Authorization: Bearer …`; a value it would never read
    // there could not be used here, so importing it would only look like success.
    if bearer_token(&format!("Bearer {value}")) != Some(value) {
        return Err(format!(
            "its value ({} characters) is not usable as a bearer token here: 1 to {} printable ASCII characters without spaces",
            value.chars().count(),
            tfreg_edge::MAX_TOKEN_LEN
        ));
    }
    let name = token.token_name.as_deref().unwrap_or_default();
    validate_token_name(name).map_err(|e| e.to_string())?;
    // The seed's authorizer read a missing permission as downloader, and its routes refuse
    // any other value (each needs downloader, uploader or master).
    let permission = match token.permission.as_deref() {
        None => Tier::Downloader,
        Some(text) => text.parse::<Tier>().map_err(|e| {
            format!("{e}; in the Python registry a token with this permission could call no route, so it is not imported")
        })?,
    };
    let created_at = token
        .created_at
        .as_deref()
        .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
        .unwrap_or_else(OffsetDateTime::now_utc)
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid")
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("RFC 3339 formats any UTC time");
    Ok(TokenRecord {
        scopes: Vec::new(),
        token_hash: hash_token(value).as_hex().to_owned(),
        token_name: name.to_owned(),
        permission,
        created_at,
        expires_at: None,
        description: Some(description.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_and_pins_are_told_by_their_extension() {
        let upload = parse_seed_key("acme/vpc/aws/1.2.0/vpc-aws-1.2.0.zip").unwrap();
        assert_eq!(upload.key.as_path(), "acme/vpc/aws/1.2.0/module.tar.gz");
        assert_eq!(upload.kind, ArchiveKind::Upload);
        let pin = parse_seed_key("hashicorp/consul/aws/0.1.0/consul-aws-0.1.0.tar.gz").unwrap();
        assert_eq!(pin.kind, ArchiveKind::Pin);
        assert_eq!(pin.kind.source(), "pin");
    }

    #[test]
    fn keys_outside_the_layout_say_why() {
        assert_eq!(
            parse_seed_key("README.md").unwrap_err(),
            "not a module archive of the Python registry's layout ({ns}/{name}/{system}/{version}/{name}-{system}-{version}.zip or .tar.gz)"
        );
        assert_eq!(
            parse_seed_key("acme/vpc/aws/1.2.0/other.zip").unwrap_err(),
            "not a module archive of the Python registry's layout: the file of this version is named vpc-aws-1.2.0.zip or vpc-aws-1.2.0.tar.gz"
        );
        assert_eq!(
            parse_seed_key("acme/vpc/my_cloud/1.2.0/vpc-my_cloud-1.2.0.zip").unwrap_err(),
            "invalid system \"my_cloud\": use 1 to 64 lowercase letters or digits (the provider the module targets, such as aws)"
        );
        assert_eq!(
            parse_seed_key("acme/vpc/aws/01.2.0/vpc-aws-01.2.0.zip").unwrap_err(),
            "invalid version \"01.2.0\": use semantic versioning such as 1.2.3 or 1.2.3-rc.1"
        );
    }

    fn token(value: &str, name: &str, permission: Option<&str>) -> SeedToken {
        SeedToken {
            token_value: Some(value.to_owned()),
            token_name: Some(name.to_owned()),
            permission: permission.map(str::to_owned),
            created_at: Some("2025-03-04T05:06:07.123456+00:00".to_owned()),
        }
    }

    #[test]
    fn a_token_is_kept_under_the_hash_of_its_value() {
        let value = "ab".repeat(32);
        let record = plan_token(&token(&value, "ci", Some("uploader")), "migrated").unwrap();
        assert_eq!(record.token_hash, hash_token(&value).as_hex());
        assert_eq!(record.token_name, "ci");
        assert_eq!(record.permission, Tier::Uploader);
        assert_eq!(record.created_at, "2025-03-04T05:06:07Z");
        assert_eq!(record.expires_at, None);
        assert_eq!(record.description.as_deref(), Some("migrated"));
    }

    #[test]
    fn a_missing_permission_is_downloader_as_the_seed_authorizer_read_it() {
        let record = plan_token(&token(&"cd".repeat(32), "r", None), "migrated").unwrap();
        assert_eq!(record.permission, Tier::Downloader);
    }

    #[test]
    fn tokens_that_cannot_work_here_say_why() {
        let value = "ef".repeat(32);
        assert_eq!(
            plan_token(&token(&value, "ops", Some("admin")), "m").unwrap_err(),
            "unknown permission \"admin\": expected \"downloader\", \"uploader\" or \"master\"; in the Python registry a token with this permission could call no route, so it is not imported"
        );
        let bad_name = plan_token(&token(&value, "", Some("uploader")), "m").unwrap_err();
        assert!(
            bad_name.starts_with("invalid token name \"\""),
            "{bad_name}"
        );
        assert_eq!(
            plan_token(&token("has space", "ci", None), "m").unwrap_err(),
            "its value (9 characters) is not usable as a bearer token here: 1 to 256 printable ASCII characters without spaces"
        );
        assert_eq!(
            plan_token(&SeedToken::default(), "m").unwrap_err(),
            "the item has no token_value"
        );
    }
}
