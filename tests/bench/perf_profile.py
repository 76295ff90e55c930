"""Where a server's CPU time goes under load: `perf record` on its process while a load runs,
then the top entries of `perf report` (self time per symbol), and the same samples grouped by
what the symbols belong to (TLS, HTTP, the runtime, the allocator, the kernel, our code).

Used by bench.py's `--only throughput --profile`. Symbols need a binary with its symbol table
(the release profile strips it: tests/bench/run.sh --binary takes an unstripped link of the same
code); a stripped one still profiles, as addresses.
"""

import os
import re
import shutil
import subprocess
import tempfile

# perf report --stdio --no-children --sort dso,symbol: "  12.34%  tfreg  [.] ring::aes::…"
ENTRY = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[([.k])\]\s+(.*?)\s*$")

# First match wins: what a symbol (or its DSO) belongs to.
GROUPS = [
    ("kernel (syscalls, TCP, scheduling)", lambda dso, sym, kind: kind == "k" or dso.startswith("[kernel")),
    ("TLS (rustls, ring)", lambda dso, sym, kind: re.search(r"\bring\b|ring_core|rustls|aes_|gcm_|chacha|sha256_block|x25519|p256|ecp_nistz", sym) is not None),
    ("allocator (malloc/free)", lambda dso, sym, kind: re.search(r"malloc|free|realloc|_int_|memalign|cfree|arena", sym) is not None and "libc" in dso),
    ("libc (memcpy, syscalls' wrappers, …)", lambda dso, sym, kind: "libc" in dso or "ld-linux" in dso),
    ("HTTP (hyper, http, httparse)", lambda dso, sym, kind: re.search(r"hyper|httparse|\bhttp::", sym) is not None),
    ("async runtime (tokio)", lambda dso, sym, kind: "tokio" in sym or "mio::" in sym),
    ("logging (tracing)", lambda dso, sym, kind: "tracing" in sym),
    ("JSON (serde_json)", lambda dso, sym, kind: "serde_json" in sym or "serde::" in sym),
    ("tfreg (edge check, registry, distribution)", lambda dso, sym, kind: re.search(r"tfreg|edge::|origin::", sym) is not None),
]


def available() -> str | None:
    """None if `perf record` can run here, else why not."""
    if shutil.which("perf") is None:
        return "perf is not installed (apt-get install linux-perf)"
    probe = subprocess.run(["perf", "record", "-q", "-o", os.devnull, "--", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"perf record failed: {probe.stderr.strip()[:200]}"
    return None


def record(pid: int, run_load) -> str:
    """Samples `pid` (all its threads) while `run_load()` runs; returns the perf.data path."""
    data = tempfile.mktemp(prefix="tfreg-perf-", suffix=".data")
    perf = subprocess.Popen(["perf", "record", "-q", "-g", "-F", "499", "-p", str(pid), "-o", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_load()
    finally:
        perf.send_signal(2)  # SIGINT: perf writes its file and exits
        perf.wait(timeout=60)
    return data


def report(data: str, top: int = 15):
    """The `top` entries (percent, DSO, symbol) and the share of each group."""
    out = subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol", "-q"],
        capture_output=True, text=True,
    ).stdout
    os.remove(data)
    entries = []
    for line in out.splitlines():
        m = ENTRY.match(line)
        if m:
            entries.append((float(m.group(1)), m.group(2), m.group(3), m.group(4)))
    groups: dict[str, float] = {}
    for percent, dso, kind, symbol in entries:
        name = next((g for g, test in GROUPS if test(dso, symbol, kind)), "other")
        groups[name] = groups.get(name, 0.0) + percent
    ranked = sorted(((p, g) for g, p in groups.items()), reverse=True)
    return [(p, d, shorten(s)) for p, d, _, s in entries[:top]], ranked


def shorten(symbol: str) -> str:
    """A symbol without perf's trailing columns and Rust's hash, to fit a table cell."""
    symbol = re.sub(r"(\s+-)+\s*$", "", symbol).strip()
    symbol = re.sub(r"::h[0-9a-f]{16}$", "", symbol)
    return symbol.replace("|", "\\|")[:110]


def markdown(title: str, entries, groups) -> str:
    lines = [f"{title}", "", "| share | where | symbol |", "|---|---|---|"]
    lines += [f"| {p:.1f} % | {d} | `{s}` |" for p, d, s in entries]
    lines += ["", "Grouped (self time of all samples): " + "; ".join(f"{g} {p:.0f} %" for p, g in groups) + "."]
    return "\n".join(lines)
