#!/usr/bin/env bash
# Crashes mid-write, the full run: tfreg serve SIGKILLed ROUNDS times (default 200) while 200
# uploads, pins and token creations are in flight, restarted on the same data directory each
# time and checked (tests/crash_mid_write.rs). Writes tests/crash/RESULTS.md whole and fails
# on any violation. The quick mode (3 rounds) runs in `cargo test` and so in tests/run.sh.
#
#   tests/crash/run.sh            200 rounds
#   tests/crash/run.sh 20         20 rounds
#   TFREG_CRASH_SEED=42 tests/crash/run.sh   replay a run's choices
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-200}"
TFREG_CRASH_ROUNDS="$rounds" TFREG_CRASH_RESULTS="$PWD/tests/crash/RESULTS.md" \
    cargo test -p tfreg-cloudfront --locked --test crash_mid_write \
    versions_are_whole_or_absent_after_sigkill_mid_write -- --exact --nocapture
