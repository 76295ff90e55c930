//! The migration over a seed deployment held in memory, into the embedded stores.

use super::*;
use crate::embedded::{FileArchiveStore, RedbTokenStore};
use crate::names::{ModuleAddress, ModuleVersion};
use async_trait::async_trait;
use tfreg_edge::{hash_token, Tier};
use tfreg_testkit::archive::{versioned_module, ArchiveBuilder};

#[derive(Default)]
struct FakeSeed {
    objects: BTreeMap<String, Vec<u8>>,
    tokens: Vec<SeedToken>,
}

#[async_trait]
impl SeedDeployment for FakeSeed {
    fn prefix(&self) -> &str {
        ""
    }

    fn object_url(&self, key: &str) -> String {
        format!("s3://seed/{key}")
    }

    async fn list_objects(&self) -> Result<Vec<SeedObject>, StorageError> {
        Ok(self
            .objects
            .iter()
            .map(|(key, bytes)| SeedObject {
                key: key.clone(),
                size: bytes.len() as u64,
                last_modified: Some("2024-05-06T07:08:09.500Z".to_owned()),
            })
            .collect())
    }

    async fn open_object(&self, key: &str) -> Result<ArchiveBody, StorageError> {
        let bytes = self.objects[key].clone();
        Ok(ArchiveBody {
            len: bytes.len() as u64,
            reader: Box::pin(std::io::Cursor::new(bytes)),
        })
    }

    async fn list_tokens(&self) -> Result<Vec<SeedToken>, StorageError> {
        Ok(self.tokens.clone())
    }
}

fn seed_token(value: &str, name: &str, permission: &str) -> SeedToken {
    SeedToken {
        token_value: Some(value.to_owned()),
        token_name: Some(name.to_owned()),
        permission: Some(permission.to_owned()),
        created_at: Some("2025-01-02T03:04:05.678901+00:00".to_owned()),
    }
}

fn seed() -> FakeSeed {
    let mut seed = FakeSeed::default();
    seed.objects.insert(
        "acme/vpc/aws/1.0.0/vpc-aws-1.0.0.zip".into(),
        ArchiveBuilder::new()
            .file("main.tf", "output \"version\" {\n  value = \"1.0.0\"\n}\n")
            .build_zip(),
    );
    seed.objects.insert(
        "hashicorp/consul/aws/0.1.0/consul-aws-0.1.0.tar.gz".into(),
        ArchiveBuilder::new()
            .top_folder("terraform-aws-consul-0.1.0")
            .file("main.tf", "# consul\n")
            .build_tar_gz(),
    );
    seed.objects.insert(
        "acme/evil/aws/1.0.0/evil-aws-1.0.0.zip".into(),
        ArchiveBuilder::new()
            .file("main.tf", "# x\n")
            .symlink("passwd", "/etc/passwd")
            .build_tar_gz(),
    );
    seed.objects.insert(
        "acme/docs/aws/1.0.0/docs-aws-1.0.0.zip".into(),
        ArchiveBuilder::new()
            .file("README.md", "no module\n")
            .build_zip(),
    );
    seed.tokens = vec![
        seed_token(&"a1".repeat(32), "ci-upload", "uploader"),
        seed_token(&"b2".repeat(32), "laptop", "downloader"),
        seed_token(&"c3".repeat(32), "ci/deploy", "downloader"),
        seed_token(&"d4".repeat(32), "ops", "admin"),
    ];
    seed
}

struct Embedded {
    _dir: tempfile::TempDir,
    target: Target,
}

fn embedded() -> Embedded {
    let dir = tempfile::tempdir().unwrap();
    let archives = FileArchiveStore::open(dir.path()).unwrap();
    let tokens = Arc::new(RedbTokenStore::open(&dir.path().join("tokens.redb")).unwrap());
    Embedded {
        target: Target {
            scratch_dir: archives.staging_dir().to_path_buf(),
            archives: Arc::new(archives),
            tokens: tokens.clone(),
            pins: tokens,
        },
        _dir: dir,
    }
}

fn options(dry_run: bool) -> MigrationOptions {
    MigrationOptions {
        dry_run,
        max_archive_bytes: 1024 * 1024,
        archive_limits: ArchiveLimits::default(),
        master_token: Some("e5".repeat(32)),
    }
}

async fn run(
    seed: &FakeSeed,
    target: &Target,
    dry_run: bool,
) -> (MigrationReport, Vec<ItemReport>) {
    let mut items = Vec::new();
    let report = migrate(seed, target, &options(dry_run), &mut |item| {
        items.push(item.clone())
    })
    .await
    .unwrap();
    (report, items)
}

fn key(module: &str, version: &str) -> ArchiveKey {
    let parts: Vec<&str> = module.split('/').collect();
    ArchiveKey::new(
        ModuleAddress::new(parts[0], parts[1], parts[2]).unwrap(),
        ModuleVersion::parse(version).unwrap(),
    )
}

fn counts(report: &MigrationReport, kind: ItemKind) -> [usize; 3] {
    [Outcome::Copied, Outcome::Skipped, Outcome::Rejected].map(|o| report.count(kind, o))
}

#[tokio::test]
async fn a_dry_run_validates_everything_and_writes_nothing() {
    let seed = seed();
    let embedded = embedded();
    let (report, items) = run(&seed, &embedded.target, true).await;
    assert_eq!(counts(&report, ItemKind::Archive), [2, 0, 2]);
    assert_eq!(counts(&report, ItemKind::Token), [3, 0, 2]);
    let evil = items.iter().find(|i| i.item.contains("acme/evil")).unwrap();
    assert_eq!(evil.outcome, Outcome::Rejected);
    assert!(evil.detail.contains("link"), "{}", evil.detail);
    let target = &embedded.target;
    assert!(target
        .archives
        .list_versions(&key("acme/vpc/aws", "1.0.0").module)
        .await
        .unwrap()
        .is_empty());
    assert!(target.tokens.list().await.unwrap().is_empty());
    assert!(target.pins.list_pins().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_seed_is_copied_once_and_a_rerun_skips_it_all() {
    let seed = seed();
    let embedded = embedded();
    let target = &embedded.target;
    let (report, items) = run(&seed, target, false).await;
    assert_eq!(counts(&report, ItemKind::Archive), [2, 0, 2], "{items:#?}");
    assert_eq!(counts(&report, ItemKind::Token), [3, 0, 2], "{items:#?}");
    let reasons: Vec<String> = items
        .iter()
        .filter(|i| i.outcome == Outcome::Rejected)
        .map(|i| format!("{} {}: {}", i.kind, i.item, i.detail))
        .filter(|line| {
            // The token-name rule is the registry's (validate_token_name); a name with `/`
            // is refused under every version of it, with its own wording.
            !line.starts_with("token \"ci/deploy\": invalid token name \"ci/deploy\"")
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "archive acme/docs/aws 1.0.0 (upload) from s3://seed/acme/docs/aws/1.0.0/docs-aws-1.0.0.zip: archive has no .tf or .tf.json file at its module root",
            "archive acme/evil/aws 1.0.0 (upload) from s3://seed/acme/evil/aws/1.0.0/evil-aws-1.0.0.zip: unexpected symlink or hard link found: passwd",
            "token \"ops\": unknown permission \"admin\": expected \"downloader\", \"uploader\" or \"master\"; in the Python registry a token with this permission could call no route, so it is not imported",
        ]
    );

    let upload = target
        .archives
        .version_meta(&key("acme/vpc/aws", "1.0.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(upload.source, "upload");
    assert_eq!(upload.uploader, MIGRATION_UPLOADER);
    assert_eq!(upload.uploaded_at, "2024-05-06T07:08:09Z");
    assert_eq!(
        upload.origin_url.as_deref(),
        Some("s3://seed/acme/vpc/aws/1.0.0/vpc-aws-1.0.0.zip")
    );
    // Its docs were extracted once, on the way in, for the archive stored.
    let docs = crate::docs::stored::load_docs(
        target.archives.as_ref(),
        &key("acme/vpc/aws", "1.0.0"),
        &upload.sha256,
    )
    .await
    .expect("docs stored at migration");
    assert!(docs.parse_errors.is_empty(), "{:?}", docs.parse_errors);
    let pin_key = key("hashicorp/consul/aws", "0.1.0");
    assert_eq!(
        target
            .archives
            .version_meta(&pin_key)
            .await
            .unwrap()
            .unwrap()
            .source,
        "pin"
    );
    let pin = target.pins.get_pin(&pin_key).await.unwrap().unwrap();
    assert_eq!(pin.pinned_by, MIGRATION_UPLOADER);
    assert_eq!(
        pin.source_url,
        "s3://seed/hashicorp/consul/aws/0.1.0/consul-aws-0.1.0.tar.gz"
    );
    assert!(target
        .archives
        .version_meta(&key("acme/evil/aws", "1.0.0"))
        .await
        .unwrap()
        .is_none());

    // Old values, new hashes: each value the seed handed out finds its token here.
    for (value, name, tier) in [
        ("a1".repeat(32), "ci-upload", Tier::Uploader),
        ("b2".repeat(32), "laptop", Tier::Downloader),
        ("e5".repeat(32), SEED_MASTER_TOKEN_NAME, Tier::Master),
    ] {
        let record = target
            .tokens
            .find_by_hash(&hash_token(&value))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(
            (record.token_name.as_str(), record.permission),
            (name, tier)
        );
    }
    let laptop = target.tokens.find_by_name("laptop").await.unwrap().unwrap();
    assert_eq!(laptop.created_at, "2025-01-02T03:04:05Z");

    let (again, _) = run(&seed, target, false).await;
    assert_eq!(counts(&again, ItemKind::Archive), [0, 2, 2]);
    assert_eq!(counts(&again, ItemKind::Token), [0, 3, 2]);
}

#[tokio::test]
async fn what_is_already_here_is_compared_not_overwritten() {
    let seed = seed();
    let embedded = embedded();
    let target = &embedded.target;
    // This registry already has a different acme/vpc/aws 1.0.0, and its own "laptop".
    let staged = target.scratch_dir.join("other.tar.gz");
    std::fs::write(&staged, versioned_module("other")).unwrap();
    let other = VersionMeta {
        sha256: "0".repeat(64),
        size: 1,
        uploaded_at: now_rfc3339(),
        uploader: "ci".into(),
        source: "upload".into(),
        origin_url: None,
        repository_url: None,
    };
    target
        .archives
        .publish(&key("acme/vpc/aws", "1.0.0"), staged, &other)
        .await
        .unwrap();
    target
        .tokens
        .create(&crate::storage::TokenRecord {
            scopes: Vec::new(),
            token_hash: hash_token("mine").as_hex().to_owned(),
            token_name: "laptop".into(),
            permission: Tier::Downloader,
            created_at: now_rfc3339(),
            expires_at: None,
            description: None,
        })
        .await
        .unwrap();
    let (_, items) = run(&seed, target, false).await;
    let detail = |needle: &str| {
        let item = items.iter().find(|i| i.item.contains(needle)).unwrap();
        (item.outcome, item.detail.clone())
    };
    assert_eq!(
        detail("acme/vpc/aws"),
        (
            Outcome::Rejected,
            "a different archive of this version is already here (upload, by ci); left as it is"
                .to_owned()
        )
    );
    assert_eq!(
        detail("laptop"),
        (
            Outcome::Rejected,
            "a different token named \"laptop\" is already here; revoke one of them, or rename the seed's, and run again".to_owned()
        )
    );
    assert_eq!(
        target
            .tokens
            .find_by_name("laptop")
            .await
            .unwrap()
            .unwrap()
            .token_hash,
        hash_token("mine").as_hex()
    );
}

#[tokio::test]
async fn an_upload_shadowed_by_a_pin_of_the_same_version_is_skipped() {
    let mut seed = FakeSeed::default();
    seed.objects.insert(
        "acme/vpc/aws/1.0.0/vpc-aws-1.0.0.zip".into(),
        versioned_module("zip"),
    );
    seed.objects.insert(
        "acme/vpc/aws/1.0.0/vpc-aws-1.0.0.tar.gz".into(),
        versioned_module("tar.gz"),
    );
    seed.objects
        .insert("acme/vpc/aws/notes.txt".into(), b"hello".to_vec());
    let embedded = embedded();
    let (report, items) = run(&seed, &embedded.target, false).await;
    assert_eq!(counts(&report, ItemKind::Archive), [1, 1, 1], "{items:#?}");
    let zip = items.iter().find(|i| i.item.contains(".zip")).unwrap();
    assert_eq!(
        zip.detail,
        "the Python registry served s3://seed/acme/vpc/aws/1.0.0/vpc-aws-1.0.0.tar.gz for this version, not this upload"
    );
    let meta = embedded
        .target
        .archives
        .version_meta(&key("acme/vpc/aws", "1.0.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.source, "pin");
}

#[tokio::test]
async fn a_run_stopped_between_a_pin_and_its_record_is_completed_by_the_next() {
    let seed = seed();
    let embedded = embedded();
    let target = &embedded.target;
    run(&seed, target, false).await;
    let pin_key = key("hashicorp/consul/aws", "0.1.0");
    assert!(target.pins.delete_pin(&pin_key).await.unwrap());
    let (report, items) = run(&seed, target, false).await;
    let pin = items.iter().find(|i| i.item.contains("consul")).unwrap();
    assert_eq!(
        (pin.outcome, pin.detail.as_str()),
        (
            Outcome::Copied,
            "already copied; its pin record was missing and is now written"
        )
    );
    assert_eq!(counts(&report, ItemKind::Archive), [1, 1, 2]);
    assert!(target.pins.get_pin(&pin_key).await.unwrap().is_some());
}

#[tokio::test]
async fn a_token_value_already_here_under_another_name_is_a_conflict() {
    let seed = FakeSeed {
        tokens: vec![seed_token(&"a1".repeat(32), "ci-upload", "uploader")],
        ..FakeSeed::default()
    };
    let embedded = embedded();
    let target = &embedded.target;
    let mut record = plan_token(&seed.tokens[0], "made here").unwrap();
    record.token_name = "ci".into();
    target.tokens.create(&record).await.unwrap();
    let (report, items) = run(&seed, target, false).await;
    let ci = items.iter().find(|i| i.item == "\"ci-upload\"").unwrap();
    assert_eq!(
        (ci.outcome, ci.detail.as_str()),
        (
            Outcome::Rejected,
            "this token's value is already here, as token \"ci\""
        )
    );
    // The seed's master token (from the options) is the one token copied.
    assert_eq!(counts(&report, ItemKind::Token), [1, 0, 1]);
}
