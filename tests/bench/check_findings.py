#!/usr/bin/env python3
"""Checks that the hand-written benchmark findings quote the generated results.

tests/bench/RESULTS.md is written whole by `bash tests/bench/run.sh` and names the commit it
measured. tests/bench/FINDINGS.md is the analysis written by hand about one such run. This
check holds the two together:

- FINDINGS.md's first line names the commit of the run it discusses, as RESULTS.md's header
  does (`at commit `abc1234`.`); a new run with other numbers fails the check until the
  findings are rewritten for it;
- every figure FINDINGS.md puts in backticks (`1.01x`, `133 µs`, `24,618`, `0.308 s`) appears
  in RESULTS.md as it is written there. Figures from other measurements (a profile, a curl
  loop) are written without backticks and say where they come from.

Usage: check_findings.py [RESULTS.md FINDINGS.md]   (default: the files beside this script)
       check_findings.py --self-test
Exit 0 when they agree; 1 with one line per disagreement.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COMMIT = re.compile(r"at commit `([0-9a-f]{7,40}(?:-dirty)?)`")
# A figure: digits (with thousands commas or a decimal point), optionally a range, then an
# optional unit. Only backticked spans that are wholly a figure are checked.
FIGURE = re.compile(
    r"^[+\-~]?\d[\d,]*(\.\d+)?(\s?[-–]\s?\d[\d,]*(\.\d+)?)?\s?(x|%|µs|ms|s|MB/s|MiB|KiB|MB|KB|bytes|req/s)?$"
)


def problems(results: str, findings: str) -> list[str]:
    found = []
    commit = COMMIT.search(results.split("\n\n", 2)[1] if "\n\n" in results else results)
    first = findings.splitlines()[0] if findings.strip() else ""
    named = COMMIT.search(first)
    if commit is None:
        found.append("RESULTS.md names no commit (`at commit `…`.`): rerun tests/bench/run.sh")
    elif named is None:
        found.append("FINDINGS.md's first line names no commit (`at commit `…``)")
    elif named.group(1) != commit.group(1):
        found.append(
            f"FINDINGS.md discusses the run at commit {named.group(1)}, RESULTS.md is the run "
            f"at commit {commit.group(1)}: rewrite the findings for the new run"
        )
    for span in re.findall(r"`([^`\n]+)`", findings):
        if FIGURE.match(span.strip()) and span not in results:
            found.append(f"FINDINGS.md quotes `{span}`, which RESULTS.md does not contain")
    return found


def self_test() -> None:
    results = "# Benchmark results\n\nWritten on 2026-12-01, at commit `abc1234`.\n\n| a | 1.01x | 133 µs | 24,618 |\n"
    good = "### Findings on the run at commit `abc1234`\n\n- init `1.01x`, p50 `133 µs`, `24,618` req/s; `tfreg serve` and 5 ms from perf.\n"
    assert problems(results, good) == [], problems(results, good)
    stale = good.replace("abc1234", "def5678")
    assert any("rewrite the findings" in p for p in problems(results, stale))
    invented = good.replace("`133 µs`", "`131 µs`")
    assert problems(results, invented) == ["FINDINGS.md quotes `131 µs`, which RESULTS.md does not contain"]
    assert any("names no commit" in p for p in problems(results.replace("at commit `abc1234`", ""), good))
    assert any("first line" in p for p in problems(results, "no header\n\n`1.01x`\n"))
    # Code and paths in backticks are not figures.
    assert problems(results, good + "`cargo bench -p x`, `opt-level = 3`, `origin/src/embedded.rs`\n") == []
    print("check_findings.py: self-test passed")


def main() -> int:
    args = sys.argv[1:]
    if args == ["--self-test"]:
        self_test()
        return 0
    if len(args) not in (0, 2):
        print(__doc__, file=sys.stderr)
        return 2
    paths = args or [os.path.join(HERE, "RESULTS.md"), os.path.join(HERE, "FINDINGS.md")]
    with open(paths[0], encoding="utf-8") as f:
        results = f.read()
    with open(paths[1], encoding="utf-8") as f:
        findings = f.read()
    found = problems(results, findings)
    for line in found:
        print(f"check_findings.py: {line}", file=sys.stderr)
    if not found:
        print("check_findings.py: every figure the findings quote is in the results of the run they name")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
