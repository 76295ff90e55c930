//! `tfreg migrate-from-seed`: copies a deployment of the Python registry
//! (`terraform-aws-serverless-module-registry`) into this one, through the same storage
//! traits the registry runs on, so either backend can be the target.
//!
//! - **Archives.** The seed bucket holds `{ns}/{name}/{system}/{version}/{name}-{system}-{version}.zip`
//!   (uploads, the request body as it was sent, never validated) and `….tar.gz` (pins). Each
//!   goes through [`normalize_archive`] as an upload here does, then is published with the
//!   conditional, atomic [`ArchiveStore::publish`]: a rejected archive (links, no Terraform
//!   file at its root, a name or version this registry does not accept…) is reported and
//!   never written. `.zip` objects become uploads; `.tar.gz` objects become pins, with a
//!   [`PinRecord`], so that they stay removable (`DELETE /v1/pins/…`) and, under the proxy's
//!   rules, do not make their namespace private the way an upload does.
//! - **Tokens.** The seed table keeps plaintext values (partition key `token_value`); each is
//!   stored here under its SHA-256 ([`plan_token`]), so every value in use keeps working.
//!   The seed's master token lives in Secrets Manager; given to the migration, it becomes the
//!   master-tier token [`SEED_MASTER_TOKEN_NAME`].
//! - **Idempotent.** What is already here is skipped: a version this migration published
//!   (recognised by its `origin_url`) without being fetched again, any other version after
//!   comparing the normalised archive's checksum, a token whose name and hash both match.
//!   Anything else already here under the same version or name is a conflict, reported and
//!   left alone. A run that stopped half-way is completed by running it again.
//! - **Dry run.** Everything is read and every archive validated, nothing is written.

mod plan;
mod seed;
#[cfg(test)]
mod tests;

pub use plan::{
    parse_seed_key, plan_token, ArchiveKind, SeedArchive, SeedToken, SEED_MASTER_TOKEN_NAME,
};
pub use seed::{AwsSeed, SeedDeployment, SeedObject};

use crate::archive::{normalize_archive, ArchiveError, ArchiveLimits};
use crate::names::ArchiveKey;
use crate::storage::{
    ArchiveBody, ArchiveStore, CreateOutcome, PinRecord, PinStore, PublishOutcome, StorageError,
    TokenStore, VersionMeta,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tfreg_edge::TokenHash;
use time::format_description::well_known::Rfc3339;

/// The `uploader` of migrated versions and the `pinned_by` of migrated pins: the seed
/// registry did not record who uploaded what.
pub const MIGRATION_UPLOADER: &str = "migrate-from-seed";

/// Where the migration writes.
pub struct Target {
    pub archives: Arc<dyn ArchiveStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub pins: Arc<dyn PinStore>,
    /// Where archives are fetched and normalised before they are published (for the
    /// embedded store, on the same file system as its modules).
    pub scratch_dir: PathBuf,
}

pub struct MigrationOptions {
    /// Read and validate everything, write nothing.
    pub dry_run: bool,
    /// Largest seed object fetched; larger ones are rejected.
    pub max_archive_bytes: u64,
    pub archive_limits: ArchiveLimits,
    /// The seed's master token (from its Secrets Manager secret), if it is to keep working.
    pub master_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemKind {
    Archive,
    Token,
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemKind::Archive => "archive",
            ItemKind::Token => "token",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Written here (or, in a dry run, would be).
    Copied,
    /// Already here, or not needed; nothing written.
    Skipped,
    /// Not copied, for the reason given: invalid, unusable, or in conflict with what is here.
    Rejected,
}

/// One line of the migration's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemReport {
    pub kind: ItemKind,
    /// What it is: `acme/vpc/aws 1.0.0 (upload) from s3://…`, or a token's name (never its
    /// value).
    pub item: String,
    pub outcome: Outcome,
    /// Why, for skipped and rejected items.
    pub detail: String,
}

/// How many items of each kind ended how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub counts: BTreeMap<(ItemKind, Outcome), usize>,
}

impl MigrationReport {
    pub fn count(&self, kind: ItemKind, outcome: Outcome) -> usize {
        self.counts.get(&(kind, outcome)).copied().unwrap_or(0)
    }

    pub fn rejected(&self) -> usize {
        self.count(ItemKind::Archive, Outcome::Rejected)
            + self.count(ItemKind::Token, Outcome::Rejected)
    }
}

/// Copies the seed deployment into `target`, calling `progress` once per item, in order:
/// archives (by key), then tokens (by name). Storage failures stop the run (run it again
/// to resume); everything about one item that is wrong is that item's rejection.
pub async fn migrate(
    seed: &dyn SeedDeployment,
    target: &Target,
    options: &MigrationOptions,
    progress: &mut (dyn FnMut(&ItemReport) + Send),
) -> Result<MigrationReport, StorageError> {
    let mut report = MigrationReport::default();
    let mut record = |item: ItemReport| {
        *report.counts.entry((item.kind, item.outcome)).or_default() += 1;
        progress(&item);
    };

    let objects = seed.list_objects().await?;
    let planned = plan_objects(seed, &objects);
    for entry in planned {
        let item = match entry {
            Err(item) => item,
            Ok((archive, object, shadowed_by)) => {
                let describe = format!(
                    "{} {} ({}) from {}",
                    archive.key.module,
                    archive.key.version,
                    archive.kind.source(),
                    seed.object_url(&object.key)
                );
                let (outcome, detail) = match shadowed_by {
                    Some(pin) => (
                        Outcome::Skipped,
                        format!(
                            "the Python registry served {pin} for this version, not this upload"
                        ),
                    ),
                    None => copy_archive(seed, target, options, &archive, object).await?,
                };
                ItemReport {
                    kind: ItemKind::Archive,
                    item: describe,
                    outcome,
                    detail,
                }
            }
        };
        record(item);
    }

    let mut tokens = seed.list_tokens().await?;
    tokens.sort_by(|a, b| a.token_name.cmp(&b.token_name));
    if let Some(value) = &options.master_token {
        tokens.insert(
            0,
            SeedToken {
                token_value: Some(value.clone()),
                token_name: Some(SEED_MASTER_TOKEN_NAME.to_owned()),
                permission: Some("master".to_owned()),
                created_at: None,
            },
        );
    }
    for token in &tokens {
        let name = token.token_name.clone().unwrap_or_default();
        let (outcome, detail) = copy_token(target, options, token).await?;
        record(ItemReport {
            kind: ItemKind::Token,
            item: format!("{name:?}"),
            outcome,
            detail,
        });
    }
    Ok(report)
}

/// A seed object to copy, or the report of why not. The third field names the pin that
/// shadows an upload of the same version.
type PlannedObject<'a> = Result<(SeedArchive, &'a SeedObject, Option<String>), ItemReport>;

fn plan_objects<'a>(
    seed: &dyn SeedDeployment,
    objects: &'a [SeedObject],
) -> Vec<PlannedObject<'a>> {
    let parsed: Vec<_> = objects
        .iter()
        .map(|object| {
            let relative = object
                .key
                .strip_prefix(seed.prefix())
                .unwrap_or(&object.key);
            (object, parse_seed_key(relative))
        })
        .collect();
    // The seed's download served the `.tar.gz` when a version had both.
    let pins: HashMap<ArchiveKey, &SeedObject> = parsed
        .iter()
        .filter_map(|(object, archive)| match archive {
            Ok(archive) if archive.kind == ArchiveKind::Pin => Some((archive.key.clone(), *object)),
            _ => None,
        })
        .collect();
    parsed
        .into_iter()
        .map(|(object, archive)| match archive {
            Ok(archive) => {
                let shadowed_by = (archive.kind == ArchiveKind::Upload)
                    .then(|| pins.get(&archive.key))
                    .flatten()
                    .map(|pin| seed.object_url(&pin.key));
                Ok((archive, object, shadowed_by))
            }
            Err(reason) => Err(ItemReport {
                kind: ItemKind::Archive,
                // Any key at all: escaped, so that a report line stays one line.
                item: seed.object_url(&object.key).escape_debug().to_string(),
                outcome: Outcome::Rejected,
                detail: reason,
            }),
        })
        .collect()
}

async fn copy_archive(
    seed: &dyn SeedDeployment,
    target: &Target,
    options: &MigrationOptions,
    archive: &SeedArchive,
    object: &SeedObject,
) -> Result<(Outcome, String), StorageError> {
    let key = &archive.key;
    let origin_url = seed.object_url(&object.key);
    let existing = target.archives.version_meta(key).await?;
    if let Some(existing) = &existing {
        if existing.origin_url.as_deref() == Some(origin_url.as_str()) {
            if archive.kind == ArchiveKind::Pin && target.pins.get_pin(key).await?.is_none() {
                // Published, then stopped before the pin's record was written.
                if options.dry_run {
                    return Ok((
                        Outcome::Copied,
                        "already copied; its pin record would be written".to_owned(),
                    ));
                }
                target.pins.put_pin(&pin_record(key, existing)).await?;
                return Ok((
                    Outcome::Copied,
                    "already copied; its pin record was missing and is now written".to_owned(),
                ));
            }
            return Ok((Outcome::Skipped, "already copied".to_owned()));
        }
    }
    if object.size > options.max_archive_bytes {
        return Ok((
            Outcome::Rejected,
            format!(
                "the archive is larger than the {}-byte limit",
                options.max_archive_bytes
            ),
        ));
    }
    let body = seed.open_object(&object.key).await?;
    let fetched = spool(body, &target.scratch_dir, options.max_archive_bytes).await?;
    let Some(fetched) = fetched else {
        return Ok((
            Outcome::Rejected,
            format!(
                "the archive is larger than the {}-byte limit",
                options.max_archive_bytes
            ),
        ));
    };
    let limits = options.archive_limits.clone();
    let scratch_dir = target.scratch_dir.clone();
    let normalized = tokio::task::spawn_blocking(move || {
        let output = tempfile::Builder::new()
            .prefix("migrate-")
            .suffix(".tar.gz")
            .tempfile_in(&scratch_dir)?;
        let result = normalize_archive(std::io::BufReader::new(fetched), output.as_file(), &limits);
        Ok::<_, std::io::Error>(result.map(|normalized| (normalized, output.into_temp_path())))
    })
    .await
    .map_err(|e| StorageError::Backend(format!("archive task failed: {e}")))??;
    let (normalized, staged) = match normalized {
        Ok(done) => done,
        // Not the archive's fault: stop, so that a rerun tries it again.
        Err(ArchiveError::Io(error)) => return Err(StorageError::Io(error)),
        Err(error) => return Ok((Outcome::Rejected, error.to_string())),
    };
    if let Some(existing) = existing {
        return Ok(if existing.sha256 == normalized.sha256 {
            (
                Outcome::Skipped,
                format!("already here ({}), the same archive", existing.source),
            )
        } else {
            (
                Outcome::Rejected,
                format!(
                    "a different archive of this version is already here ({}, by {}); left as it is",
                    existing.source, existing.uploader
                ),
            )
        });
    }
    if options.dry_run {
        return Ok((Outcome::Copied, String::new()));
    }
    let meta = VersionMeta {
        sha256: normalized.sha256,
        size: normalized.size,
        uploaded_at: object
            .last_modified
            .as_deref()
            .and_then(|text| time::OffsetDateTime::parse(text, &Rfc3339).ok())
            .and_then(|at| at.replace_nanosecond(0).ok())
            .and_then(|at| at.format(&Rfc3339).ok())
            .unwrap_or_else(now_rfc3339),
        uploader: MIGRATION_UPLOADER.to_owned(),
        source: archive.kind.source().to_owned(),
        origin_url: Some(origin_url),
        repository_url: None,
    };
    let docs = crate::docs::stored::extract_docs_from_file(staged.to_path_buf()).await;
    let outcome = target
        .archives
        .publish(key, staged.to_path_buf(), &meta)
        .await?;
    drop(staged);
    if outcome == PublishOutcome::AlreadyExists {
        return Ok((
            Outcome::Skipped,
            "published here by someone else meanwhile".to_owned(),
        ));
    }
    crate::docs::stored::store_docs(target.archives.as_ref(), key, &meta.sha256, &docs).await;
    if archive.kind == ArchiveKind::Pin {
        target.pins.put_pin(&pin_record(key, &meta)).await?;
    }
    Ok((Outcome::Copied, String::new()))
}

fn pin_record(key: &ArchiveKey, meta: &VersionMeta) -> PinRecord {
    let source_url = meta.origin_url.clone().unwrap_or_default();
    PinRecord {
        namespace: key.module.namespace.clone(),
        name: key.module.name.clone(),
        system: key.module.system.clone(),
        version: key.version.to_string(),
        sha256: meta.sha256.clone(),
        size: meta.size,
        // The seed did not record where it fetched the archive; what we know is where it
        // kept it.
        upstream_location: source_url.clone(),
        source_url,
        pinned_at: meta.uploaded_at.clone(),
        pinned_by: MIGRATION_UPLOADER.to_owned(),
        policy_override: false,
    }
}

/// Copies a seed object into an unnamed scratch file; `None` when it is over `limit`.
async fn spool(
    mut body: ArchiveBody,
    scratch_dir: &Path,
    limit: u64,
) -> Result<Option<std::fs::File>, StorageError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let file = tempfile::tempfile_in(scratch_dir)?;
    let mut file = tokio::fs::File::from_std(file);
    let copied = tokio::io::copy(&mut (&mut body.reader).take(limit + 1), &mut file).await?;
    if copied > limit {
        return Ok(None);
    }
    file.seek(std::io::SeekFrom::Start(0)).await?;
    Ok(Some(file.into_std().await))
}

async fn copy_token(
    target: &Target,
    options: &MigrationOptions,
    token: &SeedToken,
) -> Result<(Outcome, String), StorageError> {
    let record = match plan_token(token, "migrated from the Python registry") {
        Ok(record) => record,
        Err(reason) => return Ok((Outcome::Rejected, reason)),
    };
    let hash = TokenHash::from_hex(&record.token_hash).expect("hash_token makes valid hashes");
    if let Some(existing) = target.tokens.find_by_hash(&hash).await? {
        return Ok(if existing.token_name == record.token_name {
            (Outcome::Skipped, "already here".to_owned())
        } else {
            (
                Outcome::Rejected,
                format!(
                    "this token's value is already here, as token {:?}",
                    existing.token_name
                ),
            )
        });
    }
    if target
        .tokens
        .find_by_name(&record.token_name)
        .await?
        .is_some()
    {
        return Ok((Outcome::Rejected, name_taken(&record.token_name)));
    }
    if options.dry_run {
        return Ok((Outcome::Copied, format!("permission {}", record.permission)));
    }
    match target.tokens.create(&record).await? {
        CreateOutcome::Created => {
            Ok((Outcome::Copied, format!("permission {}", record.permission)))
        }
        CreateOutcome::NameTaken => Ok((Outcome::Rejected, name_taken(&record.token_name))),
    }
}

fn name_taken(name: &str) -> String {
    format!("a different token named {name:?} is already here; revoke one of them, or rename the seed's, and run again")
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid")
        .format(&Rfc3339)
        .expect("RFC 3339 formats any UTC time")
}
