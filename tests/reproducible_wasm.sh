#!/usr/bin/env bash
# The edge bundle's WebAssembly is reproducible: the working tree copied to another folder and
# built there with a target folder and a Cargo home of their own (as on another machine) gives
# the same bytes as the build here. Otherwise every runner that builds the bundle would publish
# a new replicated Lambda@Edge version.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here_wasm="$(bash "$root/edge/build-wasm.sh")"
elsewhere="$(mktemp -d /tmp/tfreg-repro-XXXXXX)"
trap 'rm -rf "$elsewhere"' EXIT
# The tracked files as they are now (committed or not), nothing built.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) \
  | (cd "$root" && xargs -0 tar -cf - --no-recursion 2>/dev/null) \
  | (mkdir -p "$elsewhere/checkout" && cd "$elsewhere/checkout" && tar -xf -)
# Another Cargo home, sharing this one's downloaded sources (nothing is fetched).
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
mkdir -p "$elsewhere/cargo-home"
ln -s "$cargo_home/registry" "$elsewhere/cargo-home/registry"
[ -d "$cargo_home/git" ] && ln -s "$cargo_home/git" "$elsewhere/cargo-home/git"
there_wasm="$(CARGO_HOME="$elsewhere/cargo-home" CARGO_TARGET_DIR="$elsewhere/target" \
  bash "$elsewhere/checkout/edge/build-wasm.sh")"
if cmp -s "$here_wasm" "$there_wasm"; then
  echo "edge.wasm is reproducible: $(sha256sum "$here_wasm" | cut -c1-16)… from $root and from $elsewhere/checkout"
else
  echo "edge.wasm differs between $root and $elsewhere/checkout:" >&2
  sha256sum "$here_wasm" "$there_wasm" >&2
  strings "$there_wasm" | grep -F "$elsewhere" | head -n 5 >&2 || true
  exit 1
fi
