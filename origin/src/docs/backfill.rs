//! Docs for versions stored before docs were extracted at publish (or whose docs were lost):
//! what `tfreg reindex --backfill-docs` runs per version. The archive is read, never
//! rewritten; the docs are extracted exactly as a publish would and stored beside it.

use super::stored::{extract_docs_from_file, StoredDocs};
use crate::names::ArchiveKey;
use crate::storage::{ArchiveStore, StorageError};
use std::path::Path;

/// What [`backfill_docs`] did for one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillOutcome {
    /// Docs for the version's current archive were there already; nothing was written.
    AlreadyStored,
    /// Docs were extracted from the archive and stored. `docs_available` is false when the
    /// module's Terraform did not all parse (the docs say why), as at publish.
    Extracted { docs_available: bool },
    /// The version (or its archive) is not in the store.
    NoSuchVersion,
}

/// Makes sure the version at `key` has docs for its current archive: if the stored docs
/// belong to this archive (by SHA-256), nothing is done; otherwise (none stored, corrupt, or
/// extracted from another archive of the version) the archive is spooled to a temporary file
/// in `scratch_dir`, its docs extracted and stored, replacing any. Idempotent, and safe beside
/// a running registry: the docs object is the only thing written.
pub async fn backfill_docs(
    store: &dyn ArchiveStore,
    key: &ArchiveKey,
    scratch_dir: &Path,
) -> Result<BackfillOutcome, StorageError> {
    let Some(meta) = store.version_meta(key).await? else {
        return Ok(BackfillOutcome::NoSuchVersion);
    };
    // A read error is returned, not taken for "no docs": rewriting docs is cheap, but an
    // operator should hear that the store could not be read.
    if let Some(bytes) = store.docs(key).await? {
        let current = serde_json::from_slice::<StoredDocs>(&bytes)
            .is_ok_and(|stored| stored.archive_sha256 == meta.sha256);
        if current {
            return Ok(BackfillOutcome::AlreadyStored);
        }
    }
    let Some(mut archive) = store.open_archive(key).await? else {
        return Ok(BackfillOutcome::NoSuchVersion);
    };
    // Spooled whole first: extraction reads a file on a blocking thread, as at publish.
    let spooled = tempfile::Builder::new()
        .prefix("backfill-")
        .suffix(".tar.gz")
        .tempfile_in(scratch_dir)?
        .into_temp_path();
    let mut file = tokio::fs::File::create(&spooled).await?;
    tokio::io::copy(&mut archive.reader, &mut file).await?;
    file.sync_all().await?;
    drop(file);
    let docs = extract_docs_from_file(spooled.to_path_buf()).await;
    let stored = StoredDocs {
        // The checksum the registry compares with when it serves the docs: the version's
        // metadata, as at publish (empty for an archive put into the bucket by hand).
        archive_sha256: meta.sha256,
        docs,
    };
    let json = serde_json::to_vec(&stored).expect("docs serialise");
    store.put_docs(key, &json).await?;
    Ok(BackfillOutcome::Extracted {
        docs_available: stored.docs.docs_available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::stored::load_docs;
    use crate::embedded::FileArchiveStore;
    use crate::names::{ModuleAddress, ModuleVersion};
    use crate::storage::VersionMeta;
    use tfreg_testkit::archive::module_archive;

    const VARIABLES_TF: &str =
        "variable \"cidr\" {\n  type        = string\n  description = \"The CIDR block.\"\n}\n";

    fn key(version: &str) -> ArchiveKey {
        ArchiveKey::new(
            ModuleAddress::new("acme", "vpc", "aws").unwrap(),
            ModuleVersion::parse(version).unwrap(),
        )
    }

    fn meta(sha256: &str) -> VersionMeta {
        VersionMeta {
            sha256: sha256.into(),
            size: 1,
            uploaded_at: "2026-01-01T00:00:00Z".into(),
            uploader: "tests".into(),
            source: "upload".into(),
            origin_url: None,
            repository_url: None,
        }
    }

    /// A store holding `key` as published before docs existed: an archive, no docs.
    async fn store_without_docs(
        key: &ArchiveKey,
        files: &[(&str, &str)],
    ) -> (tempfile::TempDir, FileArchiveStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileArchiveStore::open(dir.path()).unwrap();
        let staged = dir.path().join("staged.tar.gz");
        std::fs::write(&staged, module_archive(files)).unwrap();
        store.publish(key, staged, &meta("aa")).await.unwrap();
        (dir, store)
    }

    fn archive_bytes(dir: &Path, key: &ArchiveKey) -> Vec<u8> {
        std::fs::read(dir.join("modules").join(key.as_path())).unwrap()
    }

    #[tokio::test]
    async fn a_version_stored_without_docs_gets_them_and_a_second_run_changes_nothing() {
        let version = key("1.0.0");
        let (dir, store) = store_without_docs(&version, &[("variables.tf", VARIABLES_TF)]).await;
        let archive_before = archive_bytes(dir.path(), &version);
        let missing = load_docs(&store, &version, "aa").await.unwrap_err();
        assert!(missing.contains("no docs are stored"), "{missing}");

        let outcome = backfill_docs(&store, &version, dir.path()).await.unwrap();
        assert_eq!(
            outcome,
            BackfillOutcome::Extracted {
                docs_available: true
            }
        );
        let docs = load_docs(&store, &version, "aa").await.unwrap();
        assert!(docs.docs_available);
        assert_eq!(docs.root.inputs[0].name, "cidr");
        assert_eq!(
            archive_bytes(dir.path(), &version),
            archive_before,
            "the archive is untouched"
        );
        let stored_before = store.docs(&version).await.unwrap();

        let again = backfill_docs(&store, &version, dir.path()).await.unwrap();
        assert_eq!(again, BackfillOutcome::AlreadyStored);
        assert_eq!(store.docs(&version).await.unwrap(), stored_before);
        let litter: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name.to_string_lossy().starts_with("backfill-"))
            .collect();
        assert!(
            litter.is_empty(),
            "the spooled archive is removed: {litter:?}"
        );
    }

    #[tokio::test]
    async fn docs_of_another_archive_or_corrupt_docs_are_extracted_again() {
        let version = key("1.0.0");
        let (dir, store) = store_without_docs(&version, &[("variables.tf", VARIABLES_TF)]).await;
        let stale = StoredDocs {
            archive_sha256: "another-archive".into(),
            docs: crate::docs::stored::unavailable("stale".into()),
        };
        store
            .put_docs(&version, &serde_json::to_vec(&stale).unwrap())
            .await
            .unwrap();
        let outcome = backfill_docs(&store, &version, dir.path()).await.unwrap();
        assert_eq!(
            outcome,
            BackfillOutcome::Extracted {
                docs_available: true
            }
        );
        assert_eq!(
            load_docs(&store, &version, "aa").await.unwrap().root.inputs[0].name,
            "cidr"
        );

        store.put_docs(&version, b"not json").await.unwrap();
        let outcome = backfill_docs(&store, &version, dir.path()).await.unwrap();
        assert!(matches!(outcome, BackfillOutcome::Extracted { .. }));
        assert!(load_docs(&store, &version, "aa").await.is_ok());
    }

    #[tokio::test]
    async fn a_module_that_does_not_parse_gets_docs_saying_why() {
        let version = key("1.0.0");
        let (dir, store) = store_without_docs(&version, &[("main.tf", "variable {\n")]).await;
        let outcome = backfill_docs(&store, &version, dir.path()).await.unwrap();
        assert_eq!(
            outcome,
            BackfillOutcome::Extracted {
                docs_available: false
            }
        );
        let docs = load_docs(&store, &version, "aa").await.unwrap();
        assert!(docs.parse_errors[0].contains("main.tf"), "{docs:?}");
        assert_eq!(
            backfill_docs(&store, &version, dir.path()).await.unwrap(),
            BackfillOutcome::AlreadyStored,
            "docs that say why are docs: not extracted again"
        );
    }

    #[tokio::test]
    async fn an_unknown_version_is_no_such_version() {
        let (dir, store) = store_without_docs(&key("1.0.0"), &[("main.tf", "")]).await;
        assert_eq!(
            backfill_docs(&store, &key("9.9.9"), dir.path())
                .await
                .unwrap(),
            BackfillOutcome::NoSuchVersion
        );
        assert_eq!(store.docs(&key("9.9.9")).await.unwrap(), None);
    }
}
