//! Crashes mid-write: `tfreg serve` is killed with SIGKILL at a random (seeded) point while 200
//! uploads, pins and token creations are in flight, then started again on the same data
//! directory, round after round. After each restart every version touched is either whole
//! (listed, downloadable, its bytes hash to its recorded sha256 and unpack to one of the
//! archives sent for it) or absent (neither listed nor downloadable); whatever was
//! acknowledged is there as acknowledged; staging holds nothing; the token store opens and
//! every token it acknowledged works; pin records and the module catalogue agree with the
//! versions. Violations are counted by kind, and the test fails on any.
//!
//! Quick mode (part of the normal test run): 3 rounds. The full run, `tests/crash/run.sh`,
//! sets `TFREG_CRASH_ROUNDS` and `TFREG_CRASH_RESULTS` (the report it writes, whole).
//! `TFREG_CRASH_SEED` replays a run's choices (what is sent, and after how many answers the
//! kill comes; the scheduling of the server's threads is not replayed).

mod common;
#[path = "crash/model.rs"]
mod model;
#[path = "crash/report.rs"]
mod report;

use common::TestRegistry;
use model::{Attempt, Kind, Outcome, Rng, World};
use report::Report;
use std::time::Duration;
use tfreg_testkit::archive::ArchiveBuilder;
use tfreg_testkit::upstream::{Download, Repo, StandIns};

/// Requests in flight per round, as the issue asks.
const REQUESTS_PER_ROUND: usize = 200;
const UPLOAD_MODULES: u64 = 6;
const PIN_MODULES: u64 = 2;
const PINNED_REPO_SHA: &str = "c0ffee0123456789abcdef0123456789abcdef01";

struct Settings {
    rounds: usize,
    seed: u64,
    results: Option<std::path::PathBuf>,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name}={v:?}")))
        };
        let seed = number("TFREG_CRASH_SEED").unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
        Settings {
            rounds: number("TFREG_CRASH_ROUNDS").unwrap_or(3) as usize,
            seed,
            results: std::env::var_os("TFREG_CRASH_RESULTS").map(Into::into),
        }
    }
}

fn serve_args(upstream: &StandIns) -> Vec<String> {
    // Pinning needs an upstream; proxy mode stays off, so every version listed is local.
    vec![
        "--proxy-upstream".into(),
        upstream.registry_url().into(),
        "--proxy-github-archive-url".into(),
        upstream.github_url().into(),
    ]
}

fn start(data_dir: tempfile::TempDir, args: &[String]) -> TestRegistry {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestRegistry::start_in(data_dir, &args)
}

/// The archive of one upload candidate: `main.tf` names it, and a seeded, incompressible
/// filler of 1 KiB to 128 KiB makes writes take long enough to be cut.
fn candidate_archive(candidate: u64, rng: &mut Rng) -> Vec<u8> {
    let filler: Vec<u8> = (0..1024 + rng.below(127 * 1024))
        .map(|_| rng.next() as u8)
        .collect();
    ArchiveBuilder::new()
        .file("main.tf", model::candidate_marker(candidate))
        .file("filler.bin", filler)
        .build_tar_gz()
}

/// Chooses this round's requests: new versions, versions raced within the round, versions
/// from earlier rounds, pins (some raced), and token creations.
fn plan_round(world: &mut World, rng: &mut Rng, round: usize) -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = Vec::with_capacity(REQUESTS_PER_ROUND);
    let mut fresh = 0u64;
    let mut next_version = |rng: &mut Rng, prefix: &str, modules: u64| {
        fresh += 1;
        let module = format!("{prefix}{}", rng.below(modules));
        (module, format!("{}.{}.0", round + 1, fresh))
    };
    for i in 0..REQUESTS_PER_ROUND {
        let roll = rng.below(100);
        let uploads_so_far: Vec<usize> = (0..attempts.len())
            .filter(|&j| matches!(attempts[j].kind, Kind::Upload { .. }))
            .collect();
        let pins_so_far: Vec<usize> = (0..attempts.len())
            .filter(|&j| attempts[j].kind == Kind::Pin)
            .collect();
        let kind_and_key = if roll < 62 || (roll < 75 && uploads_so_far.is_empty()) {
            let (module, version) = next_version(rng, "acme/m", UPLOAD_MODULES);
            Some((world.new_candidate(), format!("{module}/aws"), version))
        } else if roll < 75 {
            // Another archive for a version already sent this round: a race.
            let other = &attempts[uploads_so_far[rng.below(uploads_so_far.len() as u64) as usize]];
            Some((
                world.new_candidate(),
                other.module.clone(),
                other.version.clone(),
            ))
        } else if roll < 80 && !world.uploaded_keys().is_empty() {
            // A version from an earlier round: 409 if it is there.
            let keys = world.uploaded_keys();
            let (module, version) = keys[rng.below(keys.len() as u64) as usize].clone();
            Some((world.new_candidate(), module, version))
        } else {
            None
        };
        let attempt = match kind_and_key {
            Some((candidate, module, version)) => Attempt {
                kind: Kind::Upload {
                    candidate,
                    streamed: rng.below(2) == 0,
                },
                module,
                version,
                outcome: Outcome::Lost,
            },
            None if roll < 93 => {
                let (module, version) = if roll < 90 || pins_so_far.is_empty() {
                    let (module, version) = next_version(rng, "pinned/p", PIN_MODULES);
                    (format!("{module}/aws"), version)
                } else {
                    let other =
                        &attempts[pins_so_far[rng.below(pins_so_far.len() as u64) as usize]];
                    (other.module.clone(), other.version.clone())
                };
                Attempt {
                    kind: Kind::Pin,
                    module,
                    version,
                    outcome: Outcome::Lost,
                }
            }
            None => Attempt {
                kind: Kind::Token,
                module: String::new(),
                version: format!("crash-r{round}-t{i}"),
                outcome: Outcome::Lost,
            },
        };
        world.expect(&attempt);
        attempts.push(attempt);
    }
    attempts
}

/// Declares every planned pin's version upstream (all from one repository).
fn declare_upstream(upstream: &StandIns, world: &World) {
    for (module, versions) in world.pinned_versions_by_module() {
        upstream.module(
            &module,
            versions.iter().map(|v| {
                (
                    v.as_str(),
                    Download::git("acme-oss", "pinned", PINNED_REPO_SHA),
                )
            }),
        );
    }
}

/// One request, as the client sees it: an answer, or none (the server died under it).
async fn send(
    client: reqwest::Client,
    base: String,
    master: String,
    attempt: &Attempt,
    body: Option<Vec<u8>>,
) -> Outcome {
    let request = match &attempt.kind {
        Kind::Upload { streamed, .. } => {
            let url = format!("{base}/v1/modules/{}/{}", attempt.module, attempt.version);
            let body = body.expect("an upload has a body");
            let body = if *streamed {
                // No Content-Length: the server spools a chunked body as it comes.
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    body.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
                reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
            } else {
                reqwest::Body::from(body)
            };
            client.put(url).body(body)
        }
        Kind::Pin => client.post(format!(
            "{base}/v1/pins/{}/{}",
            attempt.module, attempt.version
        )),
        Kind::Token => client.post(format!("{base}/v1/tokens")).body(
            serde_json::json!({ "name": attempt.version, "permission": "downloader" }).to_string(),
        ),
    };
    let Ok(response) = request.bearer_auth(master).send().await else {
        return Outcome::Lost;
    };
    let status = response.status().as_u16();
    let Ok(body) = response.bytes().await else {
        // The status came, the body did not: what was decided is not known for sure.
        return Outcome::Lost;
    };
    if status != 201 {
        return Outcome::Refused(status);
    }
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let value = match attempt.kind {
        Kind::Token => json["token_value"].as_str(),
        _ => json["sha256"].as_str(),
    };
    Outcome::Created(value.unwrap_or_default().to_owned())
}

/// Fires every attempt at once and kills the server after `kill_after` answers (and a
/// seeded pause of up to 20 ms): a point chosen by progress, not by the clock, so that the
/// kill lands among requests in flight on a fast machine or a slow one. Returns how many
/// requests had no answer yet when it came.
async fn fire_and_kill(
    registry: &mut TestRegistry,
    attempts: &mut [Attempt],
    bodies: Vec<Option<Vec<u8>>>,
    kill_after: usize,
    pause_ms: u64,
) -> usize {
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for (attempt, body) in attempts.iter().zip(bodies) {
        let attempt = attempt.clone();
        let (client, base, master) = (
            registry.client.clone(),
            registry.url(""),
            registry.master_token.clone(),
        );
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = send(client, base, master, &attempt, body).await;
            let _ = answered.send(());
            outcome
        }));
    }
    let mut done = 0;
    while done < kill_after {
        answers.recv().await.expect("a task answers");
        done += 1;
    }
    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    while answers.try_recv().is_ok() {
        done += 1;
    }
    registry.kill();
    let in_flight = attempts.len() - done;
    for (attempt, task) in attempts.iter_mut().zip(tasks) {
        attempt.outcome = task.await.expect("request task");
    }
    in_flight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_are_whole_or_absent_after_sigkill_mid_write() {
    let settings = Settings::from_env();
    println!(
        "crash_mid_write: seed {} (TFREG_CRASH_SEED={} replays the choices), {} round(s)",
        settings.seed, settings.seed, settings.rounds
    );
    let mut rng = Rng::new(settings.seed);
    let upstream = StandIns::start().await;
    upstream.repo(
        "acme-oss",
        "pinned",
        PINNED_REPO_SHA,
        Repo::files(&[
            ("main.tf", model::PINNED_MARKER),
            ("README.md", "pinned by the crash test\n"),
        ]),
    );
    let args = serve_args(&upstream);
    let mut world = World::default();
    let mut report = Report::new(settings.seed);
    let mut registry = start(tempfile::tempdir().unwrap(), &args);

    for round in 0..settings.rounds {
        let mut attempts = plan_round(&mut world, &mut rng, round);
        declare_upstream(&upstream, &world);
        let bodies: Vec<Option<Vec<u8>>> = attempts
            .iter()
            .map(|attempt| match attempt.kind {
                Kind::Upload { candidate, .. } => Some(candidate_archive(candidate, &mut rng)),
                _ => None,
            })
            .collect();
        let kill_after = rng.below(REQUESTS_PER_ROUND as u64) as usize;
        let pause_ms = rng.below(21);
        let in_flight =
            fire_and_kill(&mut registry, &mut attempts, bodies, kill_after, pause_ms).await;
        let data_dir = registry.into_data_dir();
        let leftovers_at_kill = model::staging_entries(data_dir.path()).len();
        registry = start(data_dir, &args);
        let mut violations = Vec::new();
        for path in model::staging_entries(registry.data_dir.path()) {
            violations.push(("staging_leftover_after_restart", path));
        }
        for path in model::temporary_files(registry.data_dir.path()) {
            violations.push(("temporary_file_after_restart", path));
        }
        violations.extend(world.record(&attempts));
        let touched = World::touched(&attempts);
        violations.extend(model::check(&registry, &mut world, Some(&touched)).await);
        report.round(
            round,
            kill_after,
            in_flight,
            leftovers_at_kill,
            &attempts,
            &violations,
        );
    }

    // A last look at everything ever written, through one more clean restart.
    let data_dir = registry.stop();
    let registry = start(data_dir, &args);
    let violations = model::check(&registry, &mut world, None).await;
    report.final_check(&world, &violations);
    drop(registry.stop());
    upstream.shutdown().await;

    println!("{}", report.summary());
    if let Some(path) = &settings.results {
        std::fs::write(path, report.markdown()).expect("writing the results");
        println!("results written to {}", path.display());
    }
    assert_eq!(report.violations(), 0, "{}", report.summary());
}

/// What a kill at the worst moments leaves, made by hand so that each is certain: uploads
/// spooled and versions assembled in staging, a version published without its docs, a pin
/// published without its record (killed before the record), the record of a pin whose
/// version is gone (an unpin killed after the removal), and a catalogue that never heard of
/// either module. A restart clears and repairs
/// all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_clears_staging_and_repairs_docs_pin_records_and_the_catalogue() {
    use tfreg_origin::embedded::RedbTokenStore;
    use tfreg_origin::names::ArchiveKey;
    use tfreg_origin::storage::PinStore;

    let upstream = StandIns::start().await;
    upstream.repo(
        "acme-oss",
        "pinned",
        PINNED_REPO_SHA,
        Repo::files(&[("main.tf", model::PINNED_MARKER)]),
    );
    let pinned = |version| {
        (
            version,
            Download::git("acme-oss", "pinned", PINNED_REPO_SHA),
        )
    };
    upstream.module("pinned/p0/aws", [pinned("1.0.0"), pinned("2.0.0")]);
    let args = serve_args(&upstream);
    let mut registry = start(tempfile::tempdir().unwrap(), &args);
    let master = registry.master_token.clone();
    let archive = candidate_archive(1, &mut Rng::new(1));
    let uploaded = registry
        .upload("acme/m0/aws", "1.0.0", archive, &master)
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    for version in ["1.0.0", "2.0.0"] {
        let pin = registry
            .post(&format!("/v1/pins/pinned/p0/aws/{version}"), &master)
            .await;
        assert_eq!(pin.status, 201, "{}", pin.text());
    }
    registry.kill();
    let data_dir = registry.into_data_dir();

    let dir = data_dir.path();
    std::fs::write(dir.join("staging/upload-cut.tar.gz"), b"half an upload").unwrap();
    std::fs::create_dir(dir.join("staging/version-cut")).unwrap();
    std::fs::write(dir.join("staging/version-cut/module.tar.gz"), b"x").unwrap();
    std::fs::write(dir.join("proxy-cache/staging/upload-cut"), b"x").unwrap();
    let key = |version: &str| {
        ArchiveKey::parse(&format!("pinned/p0/aws/{version}/module.tar.gz")).unwrap()
    };
    {
        let pins = RedbTokenStore::open(&dir.join("tokens.redb")).unwrap();
        assert!(pins.delete_pin(&key("1.0.0")).await.unwrap());
    }
    std::fs::rename(
        dir.join("modules/pinned/p0/aws/2.0.0"),
        dir.join("staging/unpublished-cut"),
    )
    .unwrap();
    std::fs::remove_file(dir.join("catalogue.json")).unwrap();
    let uploaded_docs = dir.join("modules/acme/m0/aws/1.0.0/docs.json");
    std::fs::remove_file(&uploaded_docs).unwrap();

    let registry = start(data_dir, &args);
    assert_eq!(
        model::staging_entries(registry.data_dir.path()),
        Vec::<String>::new()
    );
    assert!(
        registry
            .data_dir
            .path()
            .join("modules/acme/m0/aws/1.0.0/docs.json")
            .exists(),
        "the docs a kill kept from being stored are extracted again"
    );
    let pins = registry.get("/v1/pins", Some(&master)).await.json();
    let pinned_versions: Vec<&str> = pins["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pin| pin["version"].as_str().unwrap())
        .collect();
    assert_eq!(pinned_versions, ["1.0.0"], "{pins}");
    let catalogue = registry.get("/v1/modules", Some(&master)).await.json();
    let modules: Vec<String> = catalogue["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {} {}",
                m["id"].as_str().unwrap(),
                m["versions_count"],
                m["origin"]
            )
        })
        .collect();
    assert_eq!(
        modules,
        [
            "acme/m0/aws/1.0.0 1 \"upload\"",
            "pinned/p0/aws/1.0.0 1 \"pin\""
        ],
        "{catalogue}"
    );
    drop(registry.stop());
    upstream.shutdown().await;
}

/// A first start killed after it saved the master token but before it recorded it: the next
/// start records the saved value (it used to mint another, fail to save it over the first,
/// and never start again).
#[tokio::test]
async fn a_first_start_killed_before_recording_the_master_token_records_the_saved_one() {
    let data_dir = tempfile::tempdir().unwrap();
    let saved = format!("tfr_{}", "5a".repeat(32));
    std::fs::write(data_dir.path().join("master-token"), format!("{saved}\n")).unwrap();
    let registry = TestRegistry::start_in(data_dir, &[]);
    assert_eq!(registry.master_token, saved);
    let tokens = registry.get("/v1/tokens", Some(&saved)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    drop(registry.stop());
}

/// A first start killed after writing the local CA's key but before its certificate: the
/// next start makes both again (it used to refuse to write the key over the first one, and
/// never start again).
#[tokio::test]
async fn a_first_start_killed_between_the_ca_key_and_certificate_starts_next_time() {
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(data_dir.path().join("tls")).unwrap();
    std::fs::write(data_dir.path().join("tls/ca-key.pem"), b"").unwrap();
    std::fs::write(data_dir.path().join("tls/.partial-cut"), b"half a key").unwrap();
    let registry = TestRegistry::start_in(data_dir, &[]);
    let master = registry.master_token.clone();
    assert_eq!(registry.get("/v1/tokens", Some(&master)).await.status, 200);
    assert!(!registry.data_dir.path().join("tls/.partial-cut").exists());
    drop(registry.stop());
}
