#!/usr/bin/env bash
# Issue 18's proof that tfreg serve holds, in one command:
#
#   bash tests/stress/run.sh [--quick] [--only soak|attacks|timing]
#
# A soak of mixed traffic on 64 connections (versions, downloads, archive GETs, uploads, token
# churn, wrong tokens) with the server's RSS and descriptors per minute; hostile clients
# (slowloris, slow bodies, oversized heads, very many connections, request smuggling shapes,
# invalid UTF-8 and percent-encoding, TLS below 1.2, HTTP/2 by prior knowledge), each with a
# legitimate client's latency before and during it; and the time to refuse wrong tokens and
# archive signatures against how much of them matches. The tool is cloudfront/benches/stress.
#
# Full (the default): release build, a 10-minute soak, the server's default limits; writes
# tests/stress/RESULTS.md (about 17 minutes). --quick is what CI runs: the debug build that
# `cargo test --workspace` made, a 20 s soak, each attack for a few seconds against short limits,
# fewer timing samples; writes tests/stress/RESULTS.quick.md (untracked). Both exit non-zero if
# an outcome is wrong (an error in the soak, an attack not refused, the legitimate client
# failing); timing is judged only in the full run. Nothing here asserts a duration.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
quick=""; only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick="--quick" ;;
    --only) only=(--only "$2"); shift ;;
    *) echo "usage: $0 [--quick] [--only soak|attacks|timing]" >&2; exit 2 ;;
  esac
  shift
done
out="$root/tests/stress/RESULTS.md"; [ -n "$quick" ] && out="$root/tests/stress/RESULTS.quick.md"
# One part alone (a rerun of it) goes to a file of its own: RESULTS.md stays one whole run.
[ ${#only[@]} -gt 0 ] && out="${out%.md}.${only[1]}.md"
# Which build was measured: the commit, "-dirty" when the tree differs from it.
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit-dirty"; fi
export STRESS_COMMIT="\`$commit\`"
export STRESS_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
export STRESS_MACHINE="$(nproc) CPUs (\`nproc\`), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1024/1024}' /proc/meminfo) RAM, Linux $(uname -r), open-file limit $(ulimit -n)"
export STRESS_NOTE="${STRESS_NOTE:-whatever else runs on the machine shares its cores}"
# The attacks open a few thousand connections at once.
ulimit -n 20000 2>/dev/null || true
if [ -n "$quick" ]; then
  # --workspace keeps the feature set of `cargo test --workspace`: nothing is rebuilt.
  cargo test --workspace --locked --bench stress -- --quick "${only[@]}" --out "$out"
else
  cargo bench --workspace --locked --bench stress -- "${only[@]}" --out "$out"
fi
echo "wrote $out"
