"""One part of the benchmark alone (`bash tests/bench/run.sh --only PART`), for work on one
target without the ~30 minutes of the full run:

- `throughput`: versions and download under wrk (1 and 64 connections, req/s, p50, p99) for
  the static floor (nginx) and `tfreg serve` (embedded), interleaved cell by cell and repeated
  in rounds (each figure the median of its rounds); with `--profile`, where the server's CPU
  time goes at 64 connections (perf_profile.py).
- `scaling`: the versions p50 at 10 to 5,000 versions of a module (embedded backend).

With `--baseline-binary`, a second build of tfreg is measured beside the first in the same run
(the same cells, interleaved): before and after a change, under the same load.
"""

import os
import shutil
import signal
import sys
import tempfile
import time

import bench as b
import perf_profile

ROUNDS = 3
SECONDS = 5


def run(args) -> None:
    procs = b.Processes()
    work = tempfile.mkdtemp(prefix="tfreg-bench-")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    binaries = {"tfreg serve (embedded)": os.path.abspath(args.tfreg_binary)}
    if args.baseline_binary:
        binaries[f"tfreg serve (embedded), {args.baseline_label}"] = os.path.abspath(args.baseline_binary)
    try:
        log_lines = throughput(args, procs, work, binaries) if args.only == "throughput" \
            else scaling(args, procs, work, binaries)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    with open(args.out, "w") as f:
        f.write(log_lines)
    print(log_lines)


def verdict(args, met: bool) -> str:
    if args.build != "release":
        return f"not judged: {args.build} build"
    return "met" if met else "MISSED"


def throughput(args, procs, work: str, binaries: dict) -> str:
    seconds, rounds = (1, 1) if args.quick else (SECONDS, ROUNDS)
    modules = b.make_modules(work)
    servers = {}
    for i, (label, binary) in enumerate(binaries.items()):
        b.log(label)
        server = b.Tfreg(procs, binary, os.path.join(work, f"tfreg-{i}"))
        for name, module in modules.items():
            server.upload(name, b.VERSION, module["archive"])
        servers[label] = (server, server.downloader_token())
    # A module directory changed in the last 2 s is listed again on every request (its status
    # could still repeat; see origin/src/embedded.rs): measure modules left alone, as they
    # mostly are, not the seconds right after their upload.
    time.sleep(2.5)
    ca, cert, key = b.make_ecdsa_ca_and_cert(os.path.join(work, "tls"))
    floor_port = b.free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(b.nginx_config(work, cert, key, floor_port, b.floor_root(work, modules), modules, None, None))
    nginx = procs.start(["nginx", "-c", conf, "-p", work], stdout=b.subprocess.DEVNULL,
                        stderr=open(os.path.join(work, "nginx.log"), "w"))
    b.wait_port(floor_port, process=nginx)

    first = next(iter(servers.values()))
    targets = {label: (f"https://{s.host}", token) for label, (s, token) in servers.items()}
    targets["floor (nginx, static)"] = (f"https://127.0.0.1:{floor_port}", first[1])
    endpoints = {
        "versions": f"/v1/modules/{b.NAMESPACE}/m01/{b.SYSTEM}/versions",
        "download": f"/v1/modules/{b.NAMESPACE}/m01/{b.SYSTEM}/{b.VERSION}/download",
    }
    load, rows = b.measure_load(targets, endpoints, seconds, rounds)
    out = [f"### Hot endpoints under load (wrk over loopback, authenticated, `Accept-Encoding: gzip`; "
           f"{rounds} interleaved rounds of {seconds} s per cell, the median of each figure, req/s range "
           "in brackets; wrk shares the 2 cores with the server)", "",
           b.table(["endpoint", "connections", "server", "req/s", "p50", "p99"], rows), ""]
    notes = []
    for label in servers:
        for endpoint in endpoints:
            ours = load[(endpoint, 64, label)]
            floor = load[(endpoint, 64, "floor (nginx, static)")]
            ratio = ours["rps"] / floor["rps"]
            met = ratio >= 0.7 and ours["p99"] <= floor["p99"]
            notes.append(f"{label}, {endpoint} at 64 connections: {ratio:.2f}x the floor's req/s, p99 "
                         f"{b.fmt_ms(ours['p99'])} vs {b.fmt_ms(floor['p99'])} (target ≥ 0.7x with p99 no "
                         f"worse: {verdict(args, met)}).")
    out += ["### Against the targets", ""] + [f"- {n}" for n in notes] + [""]

    if args.profile:
        why_not = perf_profile.available()
        if why_not:
            out += [f"### Profile", "", f"Not taken: {why_not}.", ""]
        else:
            out += [f"### Profile of tfreg serve at 64 connections (`perf record -g -F 499` on the server "
                    f"process while wrk runs {seconds * 2} s; `perf report --no-children --sort dso,symbol`, "
                    "self time; the load generator is not in it)", ""]
            for label, (server, token) in servers.items():
                for endpoint, path in endpoints.items():
                    data = perf_profile.record(server.process.pid, lambda: b.wrk(
                        f"https://{server.host}{path}", token, 64, seconds * 2))
                    out += [perf_profile.markdown(f"**{label}, {endpoint}** (binary "
                                                  f"`{os.path.basename(binaries[label])}`):",
                                                  *perf_profile.report(data)), ""]
    return "\n".join(out) + "\n"


def scaling(args, procs, work: str, binaries: dict) -> str:
    seconds, rounds = (1, 1) if args.quick else (2, 5)
    counts = [10, 100, 1000] if args.quick else [10, 100, 1000, 5000]
    archive = os.path.join(work, "seed.tar.gz")
    modules = b.make_modules(work)
    shutil.copy(modules["m01"]["archive"], archive)
    out, notes = [], []
    for i, (label, binary) in enumerate(binaries.items()):
        b.log(f"scaling: {label}")
        rows, _ = b.versions_scaling(procs, binary, os.path.join(work, f"run-{i}"), archive,
                                     seconds, 0, counts, 0, rounds)
        out += [f"### Scaling, {label} (versions: wrk, 1 connection, `Accept-Encoding: gzip`; {rounds} "
                f"rounds of {seconds} s per count, the counts in turn, each figure the median of its rounds)",
                "", b.table(["versions of the module", "p50", "p99", "req/s", "p50 vs 10 versions",
                             "p50 added per added version"], rows), ""]
        most = rows[-1]
        ratio = float(most[4].rstrip("x"))
        notes.append(f"{label}: versions p50 at {most[0]} versions is {most[4]} the p50 at 10 "
                     f"(target ≤ 1.5x: {verdict(args, ratio <= 1.5)}).")
    out += ["### Against the targets", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out) + "\n"
