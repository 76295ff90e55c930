//! `tfreg reindex`: rebuilds what is derived from the stored archives. On S3, each module's
//! version index (`versions.json`) and its namespace's uploads mark; with `--backfill-docs`,
//! the docs of versions stored before docs were extracted at publish, on either backend; and
//! the module catalogue's entries of the modules (with `--all`, the whole catalogue).

use crate::{AwsArgs, Backend, S3Args};
use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tfreg_origin::aws::S3ArchiveStore;
use tfreg_origin::catalogue::{entry_from_store, Catalogue, CatalogueStore, FileCatalogueStore};
use tfreg_origin::docs::backfill::{backfill_docs, BackfillOutcome};
use tfreg_origin::embedded::FileArchiveStore;
use tfreg_origin::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use tfreg_origin::ArchiveStore;

#[derive(Args)]
pub struct ReindexArgs {
    /// Modules to reindex, as namespace/name/system (e.g. acme/vpc/aws).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    modules: Vec<String>,
    /// Reindex every module in the store (each module with at least one version), and rebuild
    /// the module catalogue (the list and search index) whole from them.
    #[arg(long)]
    all: bool,
    /// Also store the docs of every version of these modules that has none for its archive
    /// (versions published before docs were extracted at publish). Safe to rerun: versions
    /// whose docs are there are left alone, and archives are only read.
    #[arg(long)]
    backfill_docs: bool,
    /// Where the modules are: S3 (the default), or the data directory of `tfreg serve`.
    #[arg(long, value_enum, default_value = "aws")]
    backend: Backend,
    /// The data directory of `tfreg serve` (with --backend embedded). The server may keep
    /// running: only module files are read and docs files written.
    #[arg(long, default_value = "tfreg-data", env = "TFREG_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    aws: AwsArgs,
}

/// The store being reindexed, with what only S3 has (the version index and the marks).
enum ReindexTarget {
    S3(S3ArchiveStore),
    Embedded {
        store: FileArchiveStore,
        data_dir: PathBuf,
    },
}

impl ReindexTarget {
    async fn open(args: &ReindexArgs) -> anyhow::Result<Self> {
        if args.backend == Backend::Embedded {
            let modules_dir = args.data_dir.join("modules");
            if !modules_dir.is_dir() {
                bail!(
                    "{} has no modules/ directory: is it the data directory of tfreg serve (--data-dir)?",
                    args.data_dir.display()
                );
            }
            let store =
                FileArchiveStore::open(&args.data_dir).context("opening the archive store")?;
            return Ok(ReindexTarget::Embedded {
                store,
                data_dir: args.data_dir.clone(),
            });
        }
        let bucket = args.s3.bucket("reindex")?;
        let config = tfreg_origin::aws::sdk_config_with_timeout(
            args.aws.region.as_deref(),
            args.aws.endpoint_url.as_deref(),
            args.aws.storage_timeout(),
        )
        .await;
        Ok(ReindexTarget::S3(S3ArchiveStore::from_sdk_config(
            &config,
            bucket,
            &args.s3.s3_prefix,
        )))
    }

    fn store(&self) -> &dyn ArchiveStore {
        match self {
            ReindexTarget::S3(store) => store,
            ReindexTarget::Embedded { store, .. } => store,
        }
    }

    fn describe(&self) -> String {
        match self {
            ReindexTarget::S3(store) => format!("s3://{}/{}", store.bucket(), store.prefix()),
            ReindexTarget::Embedded { data_dir, .. } => {
                data_dir.join("modules").display().to_string()
            }
        }
    }

    /// On S3, rebuilds the module's index and its namespace's mark; in the data directory,
    /// where the versions are the directories themselves, lists them. Prints what it found;
    /// returns the versions, in semver order.
    async fn reindex_module(&self, module: &ModuleAddress) -> anyhow::Result<Vec<ModuleVersion>> {
        let mut versions = match self {
            ReindexTarget::S3(store) => store
                .rebuild_index(module)
                .await
                .with_context(|| format!("reindexing {module}"))?,
            ReindexTarget::Embedded { store, .. } => store
                .list_versions(module)
                .await
                .with_context(|| format!("listing the versions of {module}"))?,
        };
        versions.sort();
        let listed: Vec<String> = versions.iter().map(ToString::to_string).collect();
        match self {
            ReindexTarget::S3(store) => {
                let marked = store
                    .rebuild_uploads_mark(module, &versions)
                    .await
                    .with_context(|| format!("marking the namespace of {module}"))?;
                println!(
                    "{module}: {} version(s) [{}] in s3://{}/{}",
                    listed.len(),
                    listed.join(", "),
                    store.bucket(),
                    store.index_key(module)
                );
                if marked {
                    println!(
                        "  namespace {} holds uploaded modules (s3://{}/{}): local-only in proxy mode",
                        module.namespace,
                        store.bucket(),
                        store.uploads_mark_key(&module.namespace)
                    );
                }
            }
            ReindexTarget::Embedded { .. } => println!(
                "{module}: {} version(s) [{}] in {}",
                listed.len(),
                listed.join(", "),
                self.describe()
            ),
        }
        Ok(versions)
    }
}

fn parse_module(text: &str) -> anyhow::Result<ModuleAddress> {
    let parts: Vec<&str> = text.split('/').collect();
    let [namespace, name, system] = parts[..] else {
        bail!("{text:?} is not a module address: use namespace/name/system");
    };
    Ok(ModuleAddress::new(namespace, name, system)?)
}

/// How many versions each backfill outcome had, for the summary line.
#[derive(Default)]
struct BackfillTally {
    extracted: usize,
    already_stored: usize,
    failed: usize,
}

/// Backfills the docs of each of `versions`, one line per version. A version that fails is
/// reported and counted, and the others still done.
async fn backfill_module_docs(
    store: &dyn ArchiveStore,
    module: &ModuleAddress,
    versions: &[ModuleVersion],
    scratch_dir: &Path,
    tally: &mut BackfillTally,
) {
    for version in versions {
        let key = ArchiveKey::new(module.clone(), version.clone());
        match backfill_docs(store, &key, scratch_dir).await {
            Ok(BackfillOutcome::Extracted { docs_available }) => {
                tally.extracted += 1;
                let note = if docs_available {
                    ""
                } else {
                    " (incomplete: see parse_errors in the module details)"
                };
                println!("  {version}: docs extracted and stored{note}");
            }
            Ok(BackfillOutcome::AlreadyStored) => {
                tally.already_stored += 1;
                println!("  {version}: docs already stored");
            }
            Ok(BackfillOutcome::NoSuchVersion) => {
                println!("  {version}: no longer stored (unpublished meanwhile)");
            }
            Err(error) => {
                tally.failed += 1;
                eprintln!("  {version}: could not backfill the docs of {module}: {error}");
            }
        }
    }
}

pub async fn run(args: ReindexArgs) -> anyhow::Result<()> {
    let target = ReindexTarget::open(&args).await?;
    let modules = chosen_modules(&args, &target).await?;
    reindex_modules(&target, &modules, args.backfill_docs).await?;
    rebuild_catalogue(&target, &modules, args.all).await
}

/// Records the modules in the catalogue as the store now holds them (after any docs backfill,
/// so descriptions and README words are there). With `--all`, the catalogue is replaced
/// whole, with the proxy cache's modules beside the store's own: this is what repairs a lost
/// or unreadable catalogue.
async fn rebuild_catalogue(
    target: &ReindexTarget,
    modules: &[ModuleAddress],
    all: bool,
) -> anyhow::Result<()> {
    let (catalogue, proxy_cache): (Arc<dyn CatalogueStore>, Option<Box<dyn ArchiveStore>>) =
        match target {
            ReindexTarget::S3(store) => (
                Arc::new(store.catalogue_store()),
                Some(Box::new(store.proxy_cache_store())),
            ),
            ReindexTarget::Embedded { data_dir, .. } => {
                let cache_dir = data_dir.join("proxy-cache");
                let cache: Option<Box<dyn ArchiveStore>> = if cache_dir.is_dir() {
                    Some(Box::new(
                        FileArchiveStore::open(&cache_dir).context("opening the proxy cache")?,
                    ))
                } else {
                    None
                };
                (Arc::new(FileCatalogueStore::open(data_dir)), cache)
            }
        };
    let catalogue = Catalogue::new(catalogue);
    let store = target.store();
    if !all {
        for module in modules {
            match entry_from_store(store, module).await? {
                Some(entry) => catalogue.upsert(entry, |_| false).await?,
                None => {
                    catalogue
                        .remove(&module.namespace, &module.name, &module.system)
                        .await?
                }
            }
        }
        println!("catalogue: {} module(s) recorded", modules.len());
        return Ok(());
    }
    let mut entries = Vec::new();
    for module in modules {
        if let Some(entry) = entry_from_store(store, module).await? {
            entries.push(entry);
        }
    }
    let own = entries.len();
    if let Some(cache) = proxy_cache {
        for module in cache
            .list_modules()
            .await
            .context("listing the proxy cache")?
        {
            if modules.contains(&module) {
                continue;
            }
            if let Some(entry) = entry_from_store(cache.as_ref(), &module).await? {
                entries.push(entry);
            }
        }
    }
    let proxied = entries.len() - own;
    catalogue
        .replace_all(entries)
        .await
        .context("writing the module catalogue")?;
    println!(
        "catalogue rebuilt: {own} module(s), {proxied} proxied module(s) from the proxy cache"
    );
    Ok(())
}

/// The modules named on the command line, or with `--all` every module in the store.
async fn chosen_modules(
    args: &ReindexArgs,
    target: &ReindexTarget,
) -> anyhow::Result<Vec<ModuleAddress>> {
    if !args.all {
        return args.modules.iter().map(|text| parse_module(text)).collect();
    }
    let modules = target
        .store()
        .list_modules()
        .await
        .with_context(|| format!("listing the modules in {}", target.describe()))?;
    if modules.is_empty() {
        println!("no modules in {}", target.describe());
    }
    Ok(modules)
}

/// Reindexes each module and, with `backfill_docs`, backfills the docs of its versions.
async fn reindex_modules(
    target: &ReindexTarget,
    modules: &[ModuleAddress],
    backfill_docs: bool,
) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let mut tally = BackfillTally::default();
    for module in modules {
        let versions = target.reindex_module(module).await?;
        if backfill_docs {
            backfill_module_docs(
                target.store(),
                module,
                &versions,
                scratch.path(),
                &mut tally,
            )
            .await;
        }
    }
    if backfill_docs {
        println!(
            "docs: {} version(s) extracted, {} already stored, {} failed",
            tally.extracted, tally.already_stored, tally.failed
        );
        if tally.failed > 0 {
            bail!(
                "the docs of {} version(s) could not be backfilled",
                tally.failed
            );
        }
    }
    Ok(())
}
