//! The module catalogue at scale: list and search latency of the real `tfreg serve` binary
//! over HTTPS (keep-alive, one client, a downloader token) with 100, 1,000 and 10,000 modules
//! stored; the cold load of the catalogue (read, parse, index) from the data directory and
//! from S3 (moto), as an origin Lambda's first list does; and what one publish costs the
//! catalogue at each size (its compare-and-swap rewrite). Prints numbers; asserts nothing
//! about them (a run checks only that every answer is right).
//!
//! Run: `cargo bench -p tfreg-cloudfront --bench catalogue`
//! (`TFREG_BENCH_MODULES=100,1000,10000` sets the sizes; `TFREG_BENCH_SECONDS` the seconds per
//! row, default 3.)
//!
//! The modules are stored through the archive store (a real archive, metadata and docs per
//! module), and the catalogue is built from them the way `tfreg reindex --all` does, so the
//! serve process reads exactly what publishes would have left.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::TestRegistry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tfreg_origin::catalogue::{entry_from_store, Catalogue, CatalogueEntry, FileCatalogueStore};
use tfreg_origin::docs::stored::{extract_docs_from_file, store_docs};
use tfreg_origin::embedded::FileArchiveStore;
use tfreg_origin::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use tfreg_origin::storage::{ArchiveStore, VersionMeta};
use tfreg_testkit::moto;

const SYSTEMS: [&str; 4] = ["aws", "google", "azurerm", "kubernetes"];
const TOPICS: [&str; 8] = [
    "network", "storage", "compute", "identity", "logging", "database", "queue", "cache",
];

/// Module `i` of the synthetic estate: 50 teams, names from topics and a number.
fn address(i: usize) -> ModuleAddress {
    ModuleAddress::new(
        &format!("team{:02}", i % 50),
        &format!("{}-{i}", TOPICS[i % TOPICS.len()]),
        SYSTEMS[i % SYSTEMS.len()],
    )
    .unwrap()
}

fn readme(i: usize) -> String {
    let topic = TOPICS[i % TOPICS.len()];
    format!(
        "# {topic} {i}\n\nProvisions the {topic} layer for team {} (unit{i}).\n\n## Usage\n\n\
         Set the inputs below; outputs feed the next layer. Tagging, encryption and \
         monitoring follow the platform defaults.\n",
        i % 50
    )
}

/// Stores `count` modules in `data_dir` and builds the catalogue from them.
async fn seed(data_dir: &std::path::Path, count: usize) -> Vec<CatalogueEntry> {
    let store = FileArchiveStore::open(data_dir).unwrap();
    let scratch = store.staging_dir().to_path_buf();
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let archive = tfreg_testkit::archive::module_archive(&[
            (
                "variables.tf",
                "variable \"name\" {\n  type        = string\n  description = \"Name.\"\n}\n",
            ),
            ("README.md", &readme(i)),
        ]);
        let staged = scratch.join(format!("seed-{i}.tar.gz"));
        std::fs::write(&staged, &archive).unwrap();
        let docs = extract_docs_from_file(staged.clone()).await;
        let key = ArchiveKey::new(address(i), ModuleVersion::parse("1.0.0").unwrap());
        let meta = VersionMeta {
            sha256: format!("{:064x}", i),
            size: archive.len() as u64,
            uploaded_at: "2026-11-30T09:00:00Z".into(),
            uploader: "ci".into(),
            source: "upload".into(),
            origin_url: None,
            repository_url: None,
        };
        store.publish(&key, staged, &meta).await.unwrap();
        store_docs(&store, &key, &meta.sha256, &docs).await;
        entries.push(
            entry_from_store(&store, &key.module)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let catalogue = Catalogue::new(Arc::new(FileCatalogueStore::open(data_dir)));
    catalogue.replace_all(entries.clone()).await.unwrap();
    entries
}

/// p50 and p99 of GETs of `path` for `duration`, checking each answer lists `expect` modules.
async fn measure(
    registry: &TestRegistry,
    path: &str,
    token: &str,
    duration: Duration,
    expect: usize,
) -> (usize, Duration, Duration) {
    let url = registry.url(path);
    let deadline = Instant::now() + duration;
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let response = registry
            .client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(
            body["modules"].as_array().map(Vec::len),
            Some(expect),
            "{path}: {body}"
        );
    }
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    (latencies.len(), percentile(0.50), percentile(0.99))
}

fn micros(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("TFREG_BENCH_MODULES")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("TFREG_BENCH_MODULES: numbers"))
        .collect();
    let seconds: u64 = std::env::var("TFREG_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("List and search on tfreg serve over HTTPS (one keep-alive client), {seconds} s per row");
        println!(
            "{:>8} {:<44} {:>9} {:>8} {:>8}",
            "modules", "request", "requests", "p50 µs", "p99 µs"
        );
        let mut loads = Vec::new();
        for &count in &sizes {
            let dir = tempfile::tempdir().unwrap();
            let seeded = Instant::now();
            let entries = seed(dir.path(), count).await;
            let seeding = seeded.elapsed();
            let bytes = std::fs::metadata(dir.path().join("catalogue.json")).unwrap().len();

            // Cold load from the data directory: what `tfreg serve`'s first list does.
            let started = Instant::now();
            let cold = Catalogue::new(Arc::new(FileCatalogueStore::open(dir.path())));
            assert_eq!(cold.snapshot().await.unwrap().len(), count);
            let file_load = started.elapsed();
            // One more publish: the catalogue's compare-and-swap rewrite at this size.
            let mut extra = entries[0].clone();
            extra.name = "one-more".into();
            let started = Instant::now();
            cold.upsert(extra, |_| false).await.unwrap();
            let publish = started.elapsed();
            cold.remove(&entries[0].namespace, "one-more", &entries[0].system)
                .await
                .unwrap();
            loads.push((count, bytes, file_load, publish, seeding));

            let registry = TestRegistry::start_in(dir, &[]);
            let token = registry.create_token("reader", "downloader").await;
            let page = 20.min(count);
            let unique = format!("unit{}", count / 2);
            let rows = [
                (format!("/v1/modules?limit={page}"), page),
                (
                    format!("/v1/modules?limit={page}&offset={}", count - page),
                    page,
                ),
                (format!("/v1/modules/team07?limit={page}"), page.min(count / 50)),
                (format!("/v1/modules/search?q={unique}"), 1),
                (
                    format!("/v1/modules/search?q=storage+google&limit={page}"),
                    page.min(count / 8),
                ),
                (format!("/v1/modules/search?q=network&limit={page}"), page.min(count / 8)),
            ];
            for (path, expect) in rows {
                let (requests, p50, p99) = measure(
                    &registry,
                    &path,
                    &token,
                    Duration::from_secs(seconds),
                    expect,
                )
                .await;
                println!(
                    "{count:>8} {path:<44} {requests:>9} {:>8} {:>8}",
                    micros(p50),
                    micros(p99)
                );
            }
            drop(registry);
        }

        println!();
        println!("The catalogue object, its cold load from the data directory, and one publish's rewrite");
        println!(
            "{:>8} {:>12} {:>14} {:>16} {:>12}",
            "modules", "bytes", "file load ms", "publish CAS ms", "seeding s"
        );
        for (count, bytes, load, publish, seeding) in &loads {
            println!(
                "{count:>8} {bytes:>12} {:>14} {:>16} {:>12.1}",
                millis(*load),
                millis(*publish),
                seeding.as_secs_f64()
            );
        }

        // Cold load on the origin Lambda: a new instance's first list reads the catalogue
        // object from S3 (here moto on loopback: its Python server's time dominates) and
        // indexes it.
        let largest = *sizes.iter().max().unwrap();
        let moto = moto::Moto::start();
        let sdk = moto.sdk_config().await;
        let bucket = moto.create_bucket(&sdk).await;
        let store = tfreg_origin::aws::S3ArchiveStore::from_sdk_config(&sdk, &bucket, "archives/");
        let entries: Vec<CatalogueEntry> = {
            let dir = tempfile::tempdir().unwrap();
            seed(dir.path(), largest).await
        };
        Catalogue::new(Arc::new(store.catalogue_store()))
            .replace_all(entries)
            .await
            .unwrap();
        println!();
        println!("Cold catalogue load from S3 (moto on loopback), {largest} modules, 5 new instances");
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let fresh = Catalogue::new(Arc::new(store.catalogue_store()));
            assert_eq!(fresh.snapshot().await.unwrap().len(), largest);
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "  median {} ms (min {} ms, max {} ms)",
            millis(times[2]),
            millis(times[0]),
            millis(times[4])
        );
    });
}
