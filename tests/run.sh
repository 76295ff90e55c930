#!/usr/bin/env bash
# The whole test suite: set-up, formatting, lints, and every test (unit, HTTP, Terraform CLI).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tests/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
(cd edge/js && npm test)  # packages the Lambda@Edge bundle, unzips it and runs it under Node.js against moto
