//! `tfreg migrate-from-seed`: the command line around [`tfreg_origin::migrate`].

use crate::{storage_backend, AwsArgs, Backend, S3Args};
use anyhow::{bail, Context};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tfreg_cloudfront::server::StorageBackend;
use tfreg_origin::archive::ArchiveLimits;
use tfreg_origin::embedded::{FileArchiveStore, RedbTokenStore};
use tfreg_origin::migrate::{
    migrate, AwsSeed, ItemKind, ItemReport, MigrationOptions, MigrationReport, Outcome, Target,
};

/// Copy a deployment of the Python registry (terraform-aws-serverless-module-registry) into
/// this one: its archives from S3, validated as uploads are, and its tokens from DynamoDB,
/// kept under the hash of their values so that they keep working. Safe to run again: what
/// is already here is skipped.
#[derive(Args)]
pub struct MigrateArgs {
    /// The Python registry's S3 bucket of module archives.
    #[arg(long, env = "TFREG_SEED_S3_BUCKET")]
    seed_s3_bucket: String,
    /// Key prefix of its archives in that bucket (it writes them at the bucket root).
    #[arg(long, env = "TFREG_SEED_S3_PREFIX", default_value = "")]
    seed_s3_prefix: String,
    /// The Python registry's DynamoDB token table (partition key `token_value`).
    #[arg(long, env = "TFREG_SEED_TOKEN_TABLE")]
    seed_token_table: String,
    /// A file holding the Python registry's master token (its Secrets Manager secret, e.g.
    /// `aws secretsmanager get-secret-value --secret-id ARN --query SecretString --output
    /// text`); imported as the master-tier token `seed-master`. Without it, the old master
    /// token stops working.
    #[arg(long, env = "TFREG_SEED_MASTER_TOKEN_FILE", value_name = "PATH")]
    seed_master_token_file: Option<PathBuf>,
    /// Read and validate everything, print what would happen, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Largest seed archive copied, in bytes; larger ones are reported and left out.
    #[arg(long, default_value_t = tfreg_origin::DEFAULT_MAX_UPLOAD_BYTES)]
    max_archive_bytes: u64,
    /// Where modules and tokens go: the data directory (embedded), or S3 and DynamoDB.
    #[arg(long, value_enum, default_value = "embedded", env = "TFREG_BACKEND")]
    backend: Backend,
    /// The data directory of `tfreg serve` (with --backend embedded). Stop the server first:
    /// its token database is opened by one process at a time.
    #[arg(long, default_value = "tfreg-data", env = "TFREG_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    s3: S3Args,
    /// DynamoDB table of the tokens (with --backend aws).
    #[arg(long, env = "TFREG_DYNAMODB_TABLE")]
    dynamodb_table: Option<String>,
    /// Region and endpoint, for the Python registry's bucket and table and for this one's.
    #[command(flatten)]
    aws: AwsArgs,
}

/// Runs the migration. Exits with status 2 (after the summary) when anything was rejected.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let master_token = match &args.seed_master_token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("reading the seed master token from {}", path.display())
            })?;
            let value = text.trim().to_owned();
            if value.is_empty() {
                bail!(
                    "{} is empty: it should hold the Python registry's master token",
                    path.display()
                );
            }
            Some(value)
        }
    };
    let region = args.aws.region.clone();
    let endpoint_url = args.aws.endpoint_url.clone();
    let config = tfreg_origin::aws::sdk_config_with_timeout(
        region.as_deref(),
        endpoint_url.as_deref(),
        args.aws.storage_timeout(),
    )
    .await;
    let seed = AwsSeed::new(
        &config,
        &args.seed_s3_bucket,
        &args.seed_s3_prefix,
        &args.seed_token_table,
    );
    let storage = storage_backend(args.backend, args.s3, args.dynamodb_table, args.aws)?;
    // Kept alive until the end: the scratch directory (AWS), or the stand-in for a data
    // directory a dry run must not create.
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let target = match &storage {
        StorageBackend::Embedded => {
            let data_dir = if args.dry_run && !args.data_dir.exists() {
                // Nothing there yet: an empty directory elsewhere answers the same.
                scratch.path().to_path_buf()
            } else {
                args.data_dir.clone()
            };
            let archives = FileArchiveStore::open(&data_dir)
                .with_context(|| format!("opening the archive store in {}", data_dir.display()))?;
            let tokens = Arc::new(
                RedbTokenStore::open(&data_dir.join("tokens.redb")).with_context(|| {
                    format!(
                        "opening the token database in {} (is tfreg serve running on it? stop it first)",
                        data_dir.display()
                    )
                })?,
            );
            Target {
                scratch_dir: archives.staging_dir().to_path_buf(),
                archives: Arc::new(archives),
                tokens: tokens.clone(),
                pins: tokens,
            }
        }
        StorageBackend::Aws(aws) => {
            let (archives, tokens) = aws.connect().await;
            let tokens = Arc::new(tokens);
            Target {
                scratch_dir: scratch.path().to_path_buf(),
                archives: Arc::new(archives),
                tokens: tokens.clone(),
                pins: tokens,
            }
        }
    };
    let target_text = match &storage {
        StorageBackend::Embedded => format!("{} (embedded)", args.data_dir.display()),
        aws => aws.describe(),
    };
    println!(
        "{} s3://{}/{} and DynamoDB table {} into {target_text}",
        if args.dry_run {
            "Dry run: nothing is written. Reading"
        } else {
            "Copying"
        },
        args.seed_s3_bucket,
        args.seed_s3_prefix,
        args.seed_token_table,
    );
    let options = MigrationOptions {
        dry_run: args.dry_run,
        max_archive_bytes: args.max_archive_bytes,
        archive_limits: ArchiveLimits::default(),
        master_token,
    };
    let dry_run = args.dry_run;
    let mut print = |item: &ItemReport| {
        let mut line = format!(
            "{:<7} {:<12} {}",
            item.kind.to_string(),
            outcome_text(item.outcome, dry_run),
            item.item
        );
        if !item.detail.is_empty() {
            line.push_str(": ");
            line.push_str(&item.detail);
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    };
    let report = migrate(&seed, &target, &options, &mut print)
        .await
        .context("the migration stopped (run it again to resume)")?;
    print_summary(&report, dry_run);
    if report.rejected() > 0 {
        let _ = std::io::stdout().flush();
        eprintln!(
            "{} item(s) were rejected and not copied: see the reasons above",
            report.rejected()
        );
        std::process::exit(2);
    }
    Ok(())
}

fn outcome_text(outcome: Outcome, dry_run: bool) -> &'static str {
    match (outcome, dry_run) {
        (Outcome::Copied, false) => "copied",
        (Outcome::Copied, true) => "would copy",
        (Outcome::Skipped, _) => "skipped",
        (Outcome::Rejected, _) => "rejected",
    }
}

fn print_summary(report: &MigrationReport, dry_run: bool) {
    let copied = if dry_run { "to copy" } else { "copied" };
    for (kind, plural) in [(ItemKind::Archive, "archives"), (ItemKind::Token, "tokens")] {
        println!(
            "{plural}: {} {copied}, {} skipped, {} rejected",
            report.count(kind, Outcome::Copied),
            report.count(kind, Outcome::Skipped),
            report.count(kind, Outcome::Rejected),
        );
    }
}
