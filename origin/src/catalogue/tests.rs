use super::*;

pub(crate) fn entry(address: &str, description: &str) -> CatalogueEntry {
    let parts: Vec<&str> = address.split('/').collect();
    CatalogueEntry {
        namespace: parts[0].into(),
        name: parts[1].into(),
        system: parts[2].into(),
        version: "1.0.0".into(),
        versions: 1,
        description: description.into(),
        published_at: "2026-11-30T09:00:00Z".into(),
        owner: "ci".into(),
        origin: "upload".into(),
        origin_url: None,
        repository_url: None,
        keywords: Vec::new(),
    }
}

fn addresses(page: &Page<'_>) -> Vec<String> {
    page.entries.iter().map(|e| e.address()).collect()
}

fn sample() -> CatalogueIndex {
    let mut readme_only = entry("tools/bastion/aws", "A jump host.");
    readme_only.keywords = vec!["peering".into(), "ssh".into()];
    CatalogueIndex::build(vec![
        entry("acme/vpc/aws", "Creates a VPC with subnets."),
        entry("acme/vpc-peering/aws", "Peers two VPCs."),
        entry("acme/dns/google", "DNS zones."),
        entry("beta/vpc/google", "A VPC on GCP."),
        readme_only,
        entry("acme/network/aws", "Network with a vpc inside."),
    ])
}

#[test]
fn the_list_is_in_address_order_and_pages() {
    let index = sample();
    let all = index.list(&Filter::default(), 0, 100);
    assert_eq!(all.total, 6);
    assert_eq!(
        addresses(&all),
        [
            "acme/dns/google",
            "acme/network/aws",
            "acme/vpc/aws",
            "acme/vpc-peering/aws",
            "beta/vpc/google",
            "tools/bastion/aws"
        ]
    );
    let page = index.list(&Filter::default(), 2, 2);
    assert_eq!(page.total, 6);
    assert_eq!(addresses(&page), ["acme/vpc/aws", "acme/vpc-peering/aws"]);
    assert!(index.list(&Filter::default(), 6, 2).entries.is_empty());
}

#[test]
fn the_list_filters_by_namespace_name_and_system() {
    let index = sample();
    let filter = |namespace: Option<&str>, name: Option<&str>, system: Option<&str>| Filter {
        namespace: namespace.map(Into::into),
        name: name.map(Into::into),
        system: system.map(Into::into),
        scopes: Vec::new(),
    };
    let acme = index.list(&filter(Some("acme"), None, None), 0, 10);
    assert_eq!(acme.total, 4);
    let acme_aws = index.list(&filter(Some("acme"), None, Some("aws")), 0, 10);
    assert_eq!(
        addresses(&acme_aws),
        ["acme/network/aws", "acme/vpc/aws", "acme/vpc-peering/aws"]
    );
    let google = index.list(&filter(None, None, Some("google")), 0, 10);
    assert_eq!(addresses(&google), ["acme/dns/google", "beta/vpc/google"]);
    let vpc = index.list(&filter(Some("acme"), Some("vpc"), None), 0, 10);
    assert_eq!(addresses(&vpc), ["acme/vpc/aws"]);
    assert_eq!(
        index.list(&filter(Some("nobody"), None, None), 0, 10).total,
        0
    );
    assert_eq!(
        index
            .list(&filter(None, None, Some("azurerm")), 0, 10)
            .total,
        0
    );
    assert!(index.get("acme", "vpc", "aws").is_some());
    assert!(index.get("acme", "vpc", "azurerm").is_none());
}

#[test]
fn search_puts_the_exact_name_first_then_by_where_the_words_are() {
    let index = sample();
    let found = index.search("vpc", &Filter::default(), 0, 10);
    // Named exactly `vpc` first (in address order), then `vpc` in the name, then in the
    // description.
    assert_eq!(
        addresses(&found),
        [
            "acme/vpc/aws",
            "beta/vpc/google",
            "acme/vpc-peering/aws",
            "acme/network/aws"
        ]
    );
    assert_eq!(found.total, 4);
    let page = index.search("vpc", &Filter::default(), 1, 2);
    assert_eq!(
        addresses(&page),
        ["beta/vpc/google", "acme/vpc-peering/aws"]
    );
    assert_eq!(page.total, 4);
}

#[test]
fn search_needs_every_word_and_matches_prefixes_and_readme_words() {
    let index = sample();
    let both = index.search("vpc aws", &Filter::default(), 0, 10);
    assert_eq!(
        addresses(&both),
        ["acme/vpc/aws", "acme/vpc-peering/aws", "acme/network/aws"]
    );
    let prefix = index.search("netw", &Filter::default(), 0, 10);
    assert_eq!(addresses(&prefix), ["acme/network/aws"]);
    let readme = index.search("ssh", &Filter::default(), 0, 10);
    assert_eq!(addresses(&readme), ["tools/bastion/aws"]);
    // A name match outranks a README match.
    let peering = index.search("peering", &Filter::default(), 0, 10);
    assert_eq!(
        addresses(&peering),
        ["acme/vpc-peering/aws", "tools/bastion/aws"]
    );
    let google = Filter {
        system: Some("google".into()),
        ..Filter::default()
    };
    assert_eq!(
        addresses(&index.search("vpc", &google, 0, 10)),
        ["beta/vpc/google"]
    );
    assert_eq!(
        index.search("vpc nothing", &Filter::default(), 0, 10).total,
        0
    );
    assert_eq!(index.search(" ", &Filter::default(), 0, 10).total, 0);
    // The whole name, as typed with its dash, is an exact name.
    assert_eq!(
        addresses(&index.search("vpc-peering", &Filter::default(), 0, 1)),
        ["acme/vpc-peering/aws"]
    );
}

#[tokio::test]
async fn edits_are_compare_and_swap_and_seen_by_every_reader() {
    let store: Arc<dyn CatalogueStore> = Arc::new(MemoryCatalogueStore::default());
    let writer = Arc::new(Catalogue::new(store.clone()));
    let reader = Catalogue::new(store.clone());
    assert!(reader.snapshot().await.unwrap().is_empty());
    // Forty concurrent writers, each adding its own module: none is lost.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let writer = Arc::new(Catalogue::new(store.clone()));
        tasks.push(tokio::spawn(async move {
            writer
                .upsert(entry(&format!("acme/m{i}/aws"), ""), |_| false)
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(reader.snapshot().await.unwrap().len(), 40);
    writer.remove("acme", "m7", "aws").await.unwrap();
    assert_eq!(writer.snapshot().await.unwrap().len(), 39);
    assert_eq!(reader.snapshot().await.unwrap().len(), 39);
    // `keep` protects an entry from replacement.
    let mut proxied = entry("acme/m1/aws", "from upstream");
    proxied.origin = "proxy".into();
    writer.upsert(proxied, |e| !e.is_proxied()).await.unwrap();
    let index = reader.snapshot().await.unwrap();
    assert_eq!(index.get("acme", "m1", "aws").unwrap().origin, "upload");
}

#[tokio::test]
async fn the_file_store_survives_a_restart_and_notices_another_writer() {
    let dir = tempfile::tempdir().unwrap();
    let first = Catalogue::new(Arc::new(FileCatalogueStore::open(dir.path())));
    first
        .upsert(entry("acme/vpc/aws", "A VPC."), |_| false)
        .await
        .unwrap();
    let second = Catalogue::new(Arc::new(FileCatalogueStore::open(dir.path())));
    assert_eq!(second.snapshot().await.unwrap().len(), 1);
    second
        .upsert(entry("acme/dns/aws", "DNS."), |_| false)
        .await
        .unwrap();
    assert_eq!(first.snapshot().await.unwrap().len(), 2);
    // A stale writer loses the compare-and-swap and tries again on the new state.
    first.remove("acme", "vpc", "aws").await.unwrap();
    let index = second.snapshot().await.unwrap();
    assert_eq!(index.len(), 1);
    assert!(index.get("acme", "dns", "aws").is_some());
}

#[tokio::test]
async fn an_unreadable_catalogue_says_how_to_rebuild_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(stores::CATALOGUE_FILE_NAME), b"{not json").unwrap();
    let catalogue = Catalogue::new(Arc::new(FileCatalogueStore::open(dir.path())));
    let error = catalogue.snapshot().await.unwrap_err().to_string();
    assert!(error.contains("tfreg reindex --all"), "{error}");
    catalogue
        .upsert(entry("acme/dns/aws", ""), |_| false)
        .await
        .expect_err("an edit does not overwrite what it cannot read");
    // The rebuild replaces it.
    catalogue
        .replace_all(vec![entry("acme/vpc/aws", "")])
        .await
        .unwrap();
    assert_eq!(catalogue.snapshot().await.unwrap().len(), 1);
}

#[tokio::test]
async fn hidden_entries_are_left_out_of_the_index() {
    let store: Arc<dyn CatalogueStore> = Arc::new(MemoryCatalogueStore::default());
    let catalogue = Catalogue::new(store).with_visibility(Box::new(|entry, uploaded| {
        !entry.is_proxied() || !uploaded.contains(entry.namespace.as_str())
    }));
    let mut public = entry("hashicorp/consul/aws", "");
    public.origin = "proxy".into();
    let mut shadowed = entry("acme/vpc/google", "");
    shadowed.origin = "proxy".into();
    catalogue
        .replace_all(vec![public, shadowed, entry("acme/vpc/aws", "")])
        .await
        .unwrap();
    let index = catalogue.snapshot().await.unwrap();
    let shown: Vec<String> = index.entries().iter().map(|e| e.address()).collect();
    assert_eq!(shown, ["acme/vpc/aws", "hashicorp/consul/aws"]);
}

#[test]
fn a_scoped_token_lists_and_finds_only_its_scopes() {
    let index = sample();
    let scoped = |scopes: &[&str]| Filter {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..Filter::default()
    };
    let acme_vpc = scoped(&["acme/vpc", "tools"]);
    assert_eq!(
        addresses(&index.list(&acme_vpc, 0, 10)),
        ["acme/vpc/aws", "tools/bastion/aws"]
    );
    let page = index.list(&acme_vpc, 1, 10);
    assert_eq!(
        (page.total, addresses(&page)),
        (2, vec!["tools/bastion/aws".to_owned()])
    );
    assert_eq!(
        addresses(&index.search("vpc", &acme_vpc, 0, 10)),
        ["acme/vpc/aws"]
    );
    // Scopes and a namespace filter together: the overlap.
    let mut acme = scoped(&["acme/vpc"]);
    acme.namespace = Some("acme".into());
    assert_eq!(addresses(&index.list(&acme, 0, 10)), ["acme/vpc/aws"]);
    let exact = scoped(&["beta/vpc/google", "acme"]);
    assert_eq!(index.list(&exact, 0, 10).total, 5);
    assert_eq!(index.list(&scoped(&["nobody"]), 0, 10).total, 0);
}

/// A store whose writes take a while and are counted, as a file with its fsync does.
#[derive(Default)]
struct SlowCountingStore {
    inner: MemoryCatalogueStore,
    writes: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl CatalogueStore for SlowCountingStore {
    async fn read(&self, known: Option<&str>) -> Result<CatalogueRead, StorageError> {
        self.inner.read(known).await
    }

    async fn write(
        &self,
        bytes: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<String>, StorageError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.inner.write(bytes, expected).await
    }

    fn refresh_interval(&self) -> Duration {
        Duration::ZERO
    }
}

/// Concurrent publishes in one process share their catalogue rewrites: 32 edits at once all
/// land, in far fewer writes than edits (each used to rewrite the catalogue alone, racing the
/// others on the compare-and-swap).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_share_their_writes_and_all_land() {
    let store = Arc::new(SlowCountingStore::default());
    let catalogue = Arc::new(Catalogue::new(store.clone()));
    let edits: Vec<_> = (0..32)
        .map(|i| {
            let catalogue = catalogue.clone();
            tokio::spawn(async move {
                catalogue
                    .upsert(entry(&format!("acme/m{i}/aws"), ""), |_| false)
                    .await
            })
        })
        .collect();
    for edit in edits {
        edit.await.unwrap().unwrap();
    }
    assert_eq!(catalogue.snapshot().await.unwrap().len(), 32);
    let writes = store.writes.load(std::sync::atomic::Ordering::SeqCst);
    assert!(writes <= 8, "{writes} writes for 32 concurrent edits");
    // A remove queued with upserts lands too.
    let (removed, added) = tokio::join!(
        catalogue.remove("acme", "m0", "aws"),
        catalogue.upsert(entry("acme/extra/aws", ""), |_| false)
    );
    removed.unwrap();
    added.unwrap();
    let index = catalogue.snapshot().await.unwrap();
    assert!(index.get("acme", "m0", "aws").is_none());
    assert!(index.get("acme", "extra", "aws").is_some());
}

/// A store that counts the reads that returned the whole object.
#[derive(Default)]
struct ReadCountingStore {
    inner: MemoryCatalogueStore,
    whole_reads: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl CatalogueStore for ReadCountingStore {
    async fn read(&self, known: Option<&str>) -> Result<CatalogueRead, StorageError> {
        let read = self.inner.read(known).await?;
        if matches!(read, CatalogueRead::Found { .. }) {
            self.whole_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(read)
    }

    async fn write(
        &self,
        bytes: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<String>, StorageError> {
        self.inner.write(bytes, expected).await
    }

    fn refresh_interval(&self) -> Duration {
        Duration::ZERO
    }
}

/// An edit starts from the entries this process wrote last when the stored object still has
/// their tag: publishing does not read and parse the whole catalogue again each time. A
/// write by another process (here another catalogue on the same store) is still read.
#[tokio::test]
async fn edits_reuse_what_this_process_wrote_and_still_see_other_writers() {
    use std::sync::atomic::Ordering::SeqCst;
    let store = Arc::new(ReadCountingStore::default());
    let ours = Catalogue::new(store.clone());
    for i in 0..10 {
        ours.upsert(entry(&format!("acme/m{i}/aws"), ""), |_| false)
            .await
            .unwrap();
    }
    assert_eq!(
        store.whole_reads.load(SeqCst),
        0,
        "ten edits, no whole read"
    );
    // Another process writes; our next edit reads its change and keeps it.
    let theirs = Catalogue::new(store.clone());
    theirs
        .upsert(entry("beta/vpc/aws", ""), |_| false)
        .await
        .unwrap();
    let before = store.whole_reads.load(SeqCst);
    ours.upsert(entry("acme/last/aws", ""), |_| false)
        .await
        .unwrap();
    assert_eq!(store.whole_reads.load(SeqCst), before + 1);
    let index = theirs.snapshot().await.unwrap();
    assert_eq!(index.len(), 12);
    assert!(index.get("beta", "vpc", "aws").is_some());
    assert!(index.get("acme", "last", "aws").is_some());
}
