//! The crash test's figures: per round, the summary, and `tests/crash/RESULTS.md`.

use crate::model::{Attempt, Kind, Outcome, Violation, World};
use std::collections::BTreeMap;

/// Every kind of violation the checks can find, so the results list the zeros too.
const KINDS: &[&str] = &[
    "staging_leftover_after_restart",
    "temporary_file_after_restart",
    "created_twice",
    "unknown_version_listed",
    "present_version_lost",
    "acknowledged_but_absent",
    "listed_but_not_downloadable",
    "downloadable_but_not_listed",
    "download_unexpected_status",
    "download_without_checksum",
    "archive_not_served",
    "hash_mismatch",
    "archive_corrupt",
    "archive_not_one_sent",
    "acknowledged_sha_changed",
    "version_changed",
    "docs_missing",
    "pin_record_missing",
    "pin_record_without_version",
    "pin_record_sha_differs",
    "acknowledged_token_refused",
    "catalogue_lists_absent_module",
    "catalogue_misses_module",
    "catalogue_stale",
];

/// What `program` prints, or "unknown".
fn run(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Default)]
struct Outcomes {
    created: usize,
    refused: usize,
    lost: usize,
}

pub struct Report {
    seed: u64,
    /// The commit measured, taken at the start (`-dirty` with uncommitted changes).
    commit: String,
    kills: usize,
    in_flight: Vec<usize>,
    staging_at_kill: Vec<usize>,
    outcomes: BTreeMap<&'static str, Outcomes>,
    by_kind: BTreeMap<&'static str, usize>,
    final_versions: usize,
    final_present: usize,
    final_tokens: usize,
}

impl Report {
    pub fn new(seed: u64) -> Self {
        let dirty = if run("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
            ""
        } else {
            "-dirty"
        };
        Report {
            seed,
            commit: format!("{}{dirty}", run("git", &["rev-parse", "--short", "HEAD"])),
            kills: 0,
            in_flight: Vec::new(),
            staging_at_kill: Vec::new(),
            outcomes: BTreeMap::new(),
            by_kind: BTreeMap::new(),
            final_versions: 0,
            final_present: 0,
            final_tokens: 0,
        }
    }

    fn count(&mut self, violations: &[Violation]) {
        for (kind, detail) in violations {
            println!("  VIOLATION {kind}: {detail}");
            *self.by_kind.entry(kind).or_default() += 1;
        }
    }

    pub fn round(
        &mut self,
        round: usize,
        kill_after: usize,
        in_flight: usize,
        staging_at_kill: usize,
        attempts: &[Attempt],
        violations: &[Violation],
    ) {
        self.kills += 1;
        self.in_flight.push(in_flight);
        self.staging_at_kill.push(staging_at_kill);
        let mut created = 0;
        for attempt in attempts {
            let kind = match attempt.kind {
                Kind::Upload { .. } => "uploads",
                Kind::Pin => "pins",
                Kind::Token => "token creations",
            };
            let tally = self.outcomes.entry(kind).or_default();
            match attempt.outcome {
                Outcome::Created(_) => {
                    tally.created += 1;
                    created += 1;
                }
                Outcome::Refused(_) => tally.refused += 1,
                Outcome::Lost => tally.lost += 1,
            }
        }
        println!(
            "round {round}: SIGKILL after {kill_after} answers with {in_flight} request(s) in flight \
             ({staging_at_kill} staging entries at the kill); {created} created; {} violation(s)",
            violations.len()
        );
        self.count(violations);
    }

    pub fn final_check(&mut self, world: &World, violations: &[Violation]) {
        println!(
            "final check after a clean restart: {} version(s) sent, {} present; {} token(s); {} violation(s)",
            world.version_count(),
            world.present_count(),
            world.token_count(),
            violations.len()
        );
        self.final_versions = world.version_count();
        self.final_present = world.present_count();
        self.final_tokens = world.token_count();
        self.count(violations);
    }

    pub fn violations(&self) -> usize {
        self.by_kind.values().sum()
    }

    fn in_flight_figures(&self) -> String {
        let mut sorted = self.in_flight.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return "none".into();
        }
        let with_any = sorted.iter().filter(|n| **n > 0).count();
        format!(
            "min {}, median {}, max {}, total {} ({} of {} kills with at least one)",
            sorted[0],
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1],
            sorted.iter().sum::<usize>(),
            with_any,
            sorted.len()
        )
    }

    pub fn summary(&self) -> String {
        let mut text = format!(
            "crash_mid_write (seed {}): {} kill(s); requests in flight at the kill: {}; violations: {}",
            self.seed,
            self.kills,
            self.in_flight_figures(),
            self.violations()
        );
        for (kind, n) in &self.by_kind {
            text.push_str(&format!("\n  {kind}: {n}"));
        }
        text
    }

    pub fn markdown(&self) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut out = String::new();
        out.push_str("# Crashes mid-write: results\n\n");
        out.push_str("Generated whole by `tests/crash/run.sh` (`tests/crash_mid_write.rs`); do not edit.\n\n");
        out.push_str(&format!(
            "- Date: {}\n",
            run("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
        ));
        out.push_str(&format!("- Commit: {}\n", self.commit));
        out.push_str(&format!(
            "- Machine: {} ({cpu}, {cores} cores), `tfreg` {} build\n",
            run("uname", &["-srm"]),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        ));
        out.push_str(&format!(
            "- Seed: {} (`TFREG_CRASH_SEED={}` replays the choices, not the thread timing)\n\n",
            self.seed, self.seed
        ));
        out.push_str("## Figures\n\n");
        out.push_str(&format!(
            "- Rounds (SIGKILL, then restart on the same data directory): **{}**\n",
            self.kills
        ));
        out.push_str(&format!("- Kills: **{}**\n", self.kills));
        out.push_str(&format!("- Violations: **{}**\n", self.violations()));
        out.push_str(
            "- Requests per round: 200, all sent at once (about 3 in 4 uploads of 1-128 KiB, half \
             of them chunked, some racing for one version or resending an earlier one; about 1 \
             in 8 pins from the upstream stand-in, some racing; the rest token creations); the \
             kill comes after a seeded number of answers (0-199) and a seeded pause of 0-20 ms\n",
        );
        out.push_str(&format!(
            "- Requests in flight at the kill: {}\n",
            self.in_flight_figures()
        ));
        let staged: usize = self.staging_at_kill.iter().sum();
        let with_staged = self.staging_at_kill.iter().filter(|n| **n > 0).count();
        out.push_str(&format!(
            "- Staging entries left by the kill (before the restart cleans them): {staged} in all, in {with_staged} of {} kills\n",
            self.kills
        ));
        out.push_str(&format!(
            "- Final check after a clean restart: {} versions sent, {} present and whole, the rest absent; {} tokens acknowledged\n\n",
            self.final_versions, self.final_present, self.final_tokens
        ));
        out.push_str(
            "| Requests | 201 | refused (409, …) | no answer (killed) |\n|---|---:|---:|---:|\n",
        );
        for (kind, tally) in &self.outcomes {
            out.push_str(&format!(
                "| {kind} | {} | {} | {} |\n",
                tally.created, tally.refused, tally.lost
            ));
        }
        out.push_str("\n## Violations by kind\n\n| Kind | Count |\n|---|---:|\n");
        for kind in KINDS {
            out.push_str(&format!(
                "| `{kind}` | {} |\n",
                self.by_kind.get(kind).unwrap_or(&0)
            ));
        }
        for (kind, n) in &self.by_kind {
            if !KINDS.contains(kind) {
                out.push_str(&format!("| `{kind}` | {n} |\n"));
            }
        }
        out
    }
}
