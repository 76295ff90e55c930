//! What the crash test sent and what it was told (`World`), the checks of a restarted server
//! against it, and the figures (`Report`). Part of `tests/crash_mid_write.rs`.

use crate::common::TestRegistry;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// `main.tf` of every pinned version (the upstream repository's).
pub const PINNED_MARKER: &str = "# pinned by the crash test\n";

/// `main.tf` of upload candidate `candidate`.
pub fn candidate_marker(candidate: u64) -> String {
    format!("# candidate {candidate}\n")
}

/// splitmix64: small, seeded, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A `PUT` of candidate archive `candidate`, chunked (`streamed`) or with a length.
    Upload {
        candidate: u64,
        streamed: bool,
    },
    Pin,
    /// A token creation; the attempt's `version` is the token's name.
    Token,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `201`, with the sha256 it reported (or the token's value).
    Created(String),
    Refused(u16),
    /// No answer: the server died first.
    Lost,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub kind: Kind,
    /// `ns/name/system` (empty for a token).
    pub module: String,
    pub version: String,
    pub outcome: Outcome,
}

/// What is known of one version.
#[derive(Default)]
struct Truth {
    /// The upload candidates sent for it: what it holds, if anything, is one of these.
    candidates: BTreeSet<u64>,
    pinned: bool,
    /// The sha256 a `201` reported: it must be there with exactly this.
    acknowledged: Option<String>,
    /// The sha256 it was seen with: once there, it stays there, unchanged.
    seen: Option<String>,
}

pub type Violation = (&'static str, String);
type VersionKey = (String, String);

/// The versions and tokens a check looks at: this round's, or (`None`) all.
pub struct Touched {
    versions: BTreeSet<VersionKey>,
    tokens: BTreeSet<String>,
}

#[derive(Default)]
pub struct World {
    next_candidate: u64,
    versions: BTreeMap<VersionKey, Truth>,
    upload_keys: Vec<VersionKey>,
    pinned: BTreeMap<String, BTreeSet<String>>,
    /// Acknowledged tokens: name -> value.
    tokens: BTreeMap<String, String>,
}

impl World {
    pub fn new_candidate(&mut self) -> u64 {
        self.next_candidate += 1;
        self.next_candidate
    }

    /// Versions uploads were sent for (in earlier rounds or this one).
    pub fn uploaded_keys(&self) -> &[VersionKey] {
        &self.upload_keys
    }

    /// Notes an attempt before it is sent.
    pub fn expect(&mut self, attempt: &Attempt) {
        let key = (attempt.module.clone(), attempt.version.clone());
        match attempt.kind {
            Kind::Upload { candidate, .. } => {
                let truth = self.versions.entry(key.clone()).or_default();
                if truth.candidates.is_empty() {
                    self.upload_keys.push(key);
                }
                truth.candidates.insert(candidate);
            }
            Kind::Pin => {
                self.pinned
                    .entry(attempt.module.clone())
                    .or_default()
                    .insert(attempt.version.clone());
                self.versions.entry(key).or_default().pinned = true;
            }
            Kind::Token => {}
        }
    }

    pub fn pinned_versions_by_module(&self) -> Vec<(String, Vec<String>)> {
        self.pinned
            .iter()
            .map(|(module, versions)| (module.clone(), versions.iter().cloned().collect()))
            .collect()
    }

    /// Notes the answers; two `201`s for one version is a violation in itself.
    pub fn record(&mut self, attempts: &[Attempt]) -> Vec<Violation> {
        let mut violations = Vec::new();
        for attempt in attempts {
            let Outcome::Created(value) = &attempt.outcome else {
                continue;
            };
            if attempt.kind == Kind::Token {
                self.tokens.insert(attempt.version.clone(), value.clone());
                continue;
            }
            let key = (attempt.module.clone(), attempt.version.clone());
            let truth = self.versions.get_mut(&key).expect("an expected version");
            if truth.acknowledged.is_some() {
                violations.push((
                    "created_twice",
                    format!("{} {} answered 201 twice", key.0, key.1),
                ));
            }
            truth.acknowledged = Some(value.clone());
        }
        violations
    }

    pub fn touched(attempts: &[Attempt]) -> Touched {
        let mut touched = Touched {
            versions: BTreeSet::new(),
            tokens: BTreeSet::new(),
        };
        for attempt in attempts {
            if attempt.kind == Kind::Token {
                touched.tokens.insert(attempt.version.clone());
            } else {
                touched
                    .versions
                    .insert((attempt.module.clone(), attempt.version.clone()));
            }
        }
        touched
    }

    fn modules(&self) -> BTreeSet<String> {
        self.versions
            .keys()
            .map(|(module, _)| module.clone())
            .collect()
    }

    pub fn version_count(&self) -> usize {
        self.versions.len()
    }

    pub fn present_count(&self) -> usize {
        self.versions.values().filter(|t| t.seen.is_some()).count()
    }

    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

/// Entries left in the staging directories (uploads being processed when the server died).
pub fn staging_entries(data_dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for staging in [
        data_dir.join("staging"),
        data_dir.join("proxy-cache/staging"),
    ] {
        if let Ok(entries) = std::fs::read_dir(&staging) {
            for entry in entries.flatten() {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}

/// Temporary files (`.tmp…`, as `tempfile` names them) anywhere in the data directory
/// outside staging: a write cut before its rename.
pub fn temporary_files(data_dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![data_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".tmp") {
                found.push(path.display().to_string());
            } else if name != "staging" && entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found
}

fn semver(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The versions the server lists for `module` (none when it answers 404).
async fn listed_versions(registry: &TestRegistry, module: &str) -> BTreeSet<String> {
    let master = registry.master_token.as_str();
    let reply = registry
        .get(&format!("/v1/modules/{module}/versions"), Some(master))
        .await;
    if reply.status == 404 {
        return BTreeSet::new();
    }
    assert_eq!(reply.status, 200, "versions of {module}: {}", reply.text());
    reply.json()["modules"][0]["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter_map(|v| v["version"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `main.tf` of a `.tar.gz`, or why it could not be read.
fn main_tf_of(archive: &[u8]) -> Result<String, String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut main_tf = None;
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut contents = String::new();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        if path == Path::new("main.tf") {
            contents.push_str(&String::from_utf8_lossy(&bytes));
            main_tf = Some(contents);
        }
    }
    main_tf.ok_or_else(|| "no main.tf".to_owned())
}

/// Downloads a version the server answers for and checks its bytes against what was sent
/// and said; returns the sha256 it is recorded with.
async fn check_archive(
    registry: &TestRegistry,
    key: &VersionKey,
    location: &str,
    truth: &Truth,
    violations: &mut Vec<Violation>,
) -> Option<String> {
    let what = format!("{} {}", key.0, key.1);
    let Some((_, recorded)) = location.split_once("checksum=sha256:") else {
        violations.push(("download_without_checksum", format!("{what}: {location}")));
        return None;
    };
    let recorded = recorded.split('&').next().unwrap_or_default().to_owned();
    let archive = registry
        .get(&crate::common::as_go_getter_requests(location), None)
        .await;
    if archive.status != 200 {
        violations.push((
            "archive_not_served",
            format!("{what}: {} for its archive URL", archive.status),
        ));
        return Some(recorded);
    }
    if hex::encode(Sha256::digest(&archive.body)) != recorded {
        violations.push((
            "hash_mismatch",
            format!(
                "{what}: {} bytes do not hash to {recorded}",
                archive.body.len()
            ),
        ));
    }
    match main_tf_of(&archive.body) {
        Err(error) => violations.push(("archive_corrupt", format!("{what}: {error}"))),
        Ok(main_tf) => {
            let ours = (truth.pinned && main_tf == PINNED_MARKER)
                || truth
                    .candidates
                    .iter()
                    .any(|c| main_tf == candidate_marker(*c));
            if !ours {
                violations.push((
                    "archive_not_one_sent",
                    format!("{what}: main.tf is {main_tf:?}"),
                ));
            }
        }
    }
    if let Some(acknowledged) = &truth.acknowledged {
        if *acknowledged != recorded {
            violations.push((
                "acknowledged_sha_changed",
                format!("{what}: 201 said {acknowledged}, now {recorded}"),
            ));
        }
    }
    if let Some(seen) = &truth.seen {
        if *seen != recorded {
            violations.push((
                "version_changed",
                format!("{what}: was {seen}, now {recorded}"),
            ));
        }
    }
    Some(recorded)
}

/// Checks the restarted server against everything known (`touched` narrows the downloads
/// and token checks to one round's; listings, pins and the catalogue are always whole).
pub async fn check(
    registry: &TestRegistry,
    world: &mut World,
    touched: Option<&Touched>,
) -> Vec<Violation> {
    let master = registry.master_token.clone();
    let mut violations = Vec::new();
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for module in world.modules() {
        let versions = listed_versions(registry, &module).await;
        for version in &versions {
            if !world
                .versions
                .contains_key(&(module.clone(), version.clone()))
            {
                violations.push(("unknown_version_listed", format!("{module} {version}")));
            }
        }
        listed.insert(module, versions);
    }
    let keys: Vec<VersionKey> = match touched {
        Some(touched) => touched.versions.iter().cloned().collect(),
        None => world.versions.keys().cloned().collect(),
    };
    for ((module, version), truth) in &world.versions {
        if truth.seen.is_some() && !listed[module].contains(version) {
            violations.push(("present_version_lost", format!("{module} {version}")));
        }
    }
    for key in keys {
        let truth = world.versions.get(&key).expect("a known version");
        let what = format!("{} {}", key.0, key.1);
        let is_listed = listed[&key.0].contains(&key.1);
        let download = registry
            .get(
                &format!("/v1/modules/{}/{}/download", key.0, key.1),
                Some(&master),
            )
            .await;
        let seen = match (download.status, download.header("x-terraform-get")) {
            (204, Some(location)) => {
                if !is_listed {
                    violations.push(("downloadable_but_not_listed", what.clone()));
                }
                let location = location.to_owned();
                check_archive(registry, &key, &location, truth, &mut violations).await
            }
            (404, _) => {
                if is_listed {
                    violations.push(("listed_but_not_downloadable", what.clone()));
                }
                if truth.acknowledged.is_some() {
                    violations.push(("acknowledged_but_absent", what.clone()));
                }
                None
            }
            (status, _) => {
                violations.push((
                    "download_unexpected_status",
                    format!("{what}: {status} {}", download.text()),
                ));
                None
            }
        };
        if seen.is_some() {
            let docs = registry
                .data_dir
                .path()
                .join("modules")
                .join(&key.0)
                .join(&key.1)
                .join("docs.json");
            if !docs.exists() {
                violations.push(("docs_missing", what.clone()));
            }
            world.versions.get_mut(&key).expect("known").seen = seen;
        }
    }
    check_pins(registry, world, &listed, &mut violations).await;
    check_tokens(registry, world, touched, &mut violations).await;
    check_catalogue(registry, &listed, &mut violations).await;
    violations
}

async fn check_pins(
    registry: &TestRegistry,
    world: &World,
    listed: &BTreeMap<String, BTreeSet<String>>,
    violations: &mut Vec<Violation>,
) {
    let reply = registry
        .get("/v1/pins", Some(registry.master_token.as_str()))
        .await;
    assert_eq!(reply.status, 200, "pins: {}", reply.text());
    let mut records: BTreeMap<VersionKey, String> = BTreeMap::new();
    for pin in reply.json()["pins"].as_array().cloned().unwrap_or_default() {
        let text = |field: &str| pin[field].as_str().unwrap_or_default().to_owned();
        let module = format!("{}/{}/{}", text("namespace"), text("name"), text("system"));
        records.insert((module, text("version")), text("sha256"));
    }
    for ((module, version), truth) in &world.versions {
        if !truth.pinned {
            continue;
        }
        let key = (module.clone(), version.clone());
        let present = listed[module].contains(version);
        match (present, records.get(&key)) {
            (true, None) => violations.push(("pin_record_missing", format!("{module} {version}"))),
            (false, Some(_)) => {
                violations.push(("pin_record_without_version", format!("{module} {version}")))
            }
            (true, Some(sha)) if truth.seen.as_ref().is_some_and(|seen| seen != sha) => violations
                .push((
                    "pin_record_sha_differs",
                    format!("{module} {version}: record {sha}"),
                )),
            _ => {}
        }
    }
}

async fn check_tokens(
    registry: &TestRegistry,
    world: &World,
    touched: Option<&Touched>,
    violations: &mut Vec<Violation>,
) {
    for (name, value) in &world.tokens {
        if touched.is_some_and(|t| !t.tokens.contains(name)) {
            continue;
        }
        let reply = registry
            .get("/v1/modules/acme/m0/aws/versions", Some(value))
            .await;
        if reply.status == 401 || reply.status == 403 {
            violations.push((
                "acknowledged_token_refused",
                format!("{name}: {}", reply.status),
            ));
        }
    }
}

/// Every module with versions is in the catalogue with its latest version and count, and
/// no other is.
async fn check_catalogue(
    registry: &TestRegistry,
    listed: &BTreeMap<String, BTreeSet<String>>,
    violations: &mut Vec<Violation>,
) {
    let mut catalogue: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut offset = 0;
    loop {
        let reply = registry
            .get(
                &format!("/v1/modules?limit=100&offset={offset}"),
                Some(registry.master_token.as_str()),
            )
            .await;
        assert_eq!(reply.status, 200, "catalogue: {}", reply.text());
        let page = reply.json();
        for entry in page["modules"].as_array().cloned().unwrap_or_default() {
            let text = |field: &str| entry[field].as_str().unwrap_or_default().to_owned();
            catalogue.insert(
                format!(
                    "{}/{}/{}",
                    text("namespace"),
                    text("name"),
                    text("provider")
                ),
                (
                    text("version"),
                    entry["versions_count"].as_u64().unwrap_or(0),
                ),
            );
        }
        match page["meta"]["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    for (module, versions) in listed {
        let latest = versions.iter().max_by_key(|v| semver(v));
        match (latest, catalogue.get(module)) {
            (None, None) => {}
            (None, Some(_)) => violations.push(("catalogue_lists_absent_module", module.clone())),
            (Some(latest), None) => violations.push((
                "catalogue_misses_module",
                format!("{module} (latest {latest})"),
            )),
            (Some(latest), Some((version, count))) => {
                if version != latest || *count != versions.len() as u64 {
                    violations.push((
                        "catalogue_stale",
                        format!(
                            "{module}: catalogue {version} ({count} versions), store {latest} ({} versions)",
                            versions.len()
                        ),
                    ));
                }
            }
        }
    }
}
