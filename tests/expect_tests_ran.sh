#!/usr/bin/env bash
# Usage: tests/expect_tests_ran.sh N LOG
# Fails unless the `cargo test` output in LOG reports at least N tests passed and none failed,
# summed over its "test result:" lines. A name filter that matches nothing exits 0 with
# "0 passed", which is how a renamed test would otherwise drop out of CI unnoticed.
# `tests/expect_tests_ran.sh --self-test` checks this script on made-up outputs.
set -euo pipefail

count_passed() {
    # Sums "N passed" over every "test result: ok." line; any other result line fails.
    awk '
        /^test result: / {
            if ($3 != "ok.") { bad = 1 }
            for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^passed;?$/) passed += $i
            seen = 1
        }
        END { if (!seen || bad) { print -1 } else { print passed + 0 } }
    ' "$1"
}

if [ "${1:-}" = "--self-test" ]; then
    scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
    printf 'running 3 tests\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 7 filtered out; finished in 9.1s\n' >"$scratch/three"
    printf 'running 0 tests\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 10 filtered out; finished in 0.0s\n' >"$scratch/none"
    printf 'compiling only\n' >"$scratch/silent"
    [ "$(count_passed "$scratch/three")" = 3 ] || { echo "self-test: three not counted" >&2; exit 1; }
    [ "$(count_passed "$scratch/none")" = 0 ] || { echo "self-test: none not counted" >&2; exit 1; }
    [ "$(count_passed "$scratch/silent")" = -1 ] || { echo "self-test: silent not refused" >&2; exit 1; }
    for case in none silent; do
        if bash "$0" 3 "$scratch/$case" 2>/dev/null; then
            echo "self-test: $case passed the check" >&2; exit 1
        fi
    done
    bash "$0" 3 "$scratch/three" >/dev/null
    echo "expect_tests_ran.sh: self-test ok"
    exit 0
fi

expected="$1"; log="$2"
passed="$(count_passed "$log")"
if [ "$passed" -lt "$expected" ]; then
    echo "expected at least $expected tests to pass in $log, counted $passed (a test renamed out of the filter?)" >&2
    exit 1
fi
echo "expect_tests_ran.sh: $passed passed (at least $expected expected)"
