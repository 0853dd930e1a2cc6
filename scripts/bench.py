#!/usr/bin/env python3
"""`make bench`: whole-process latency, scale, concurrency and peak memory of mcp-router,
side by side with the tools people use today.

Every figure is the median of several whole-process runs after a warm-up, and every
comparison is a ratio of two commands run ALTERNATELY in the same run, because these
machines are noisy. Results: a table on stdout and JSON in bench-results/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
BIN = Path(sys.executable).parent
MCP_ROUTER = str(BIN / "mcp-router")

from bench_env import BenchEnv, pass_env, secret_service_env  # noqa: E402


@dataclass
class Sample:
    wall_ms: list[float] = field(default_factory=list)
    maxrss_kb: list[int] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def peak_kb(self) -> int:
        return max(self.maxrss_kb) if self.maxrss_kb else 0


@dataclass
class Row:
    section: str
    subject: str
    median_ms: float
    peak_mb: float
    baseline: str | None = None
    baseline_ms: float | None = None
    ratio: float | None = None
    target: float | None = None

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "meets" if self.ratio <= self.target else "MISSES"


def run_once(argv: Sequence[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[
        float, int]:
    """Wall time (ms) and peak RSS (KiB) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE if stdin is not None
                            else subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {proc.returncode}: {err.strip()}")
    return elapsed, usage.ru_maxrss


Cmd = tuple[Sequence[str], dict[str, str], "bytes | None"]


def alternate(cmds: dict[str, Callable[[int], Cmd]], runs: int, warmup: int = 2
              ) -> dict[str, Sample]:
    """Run each command ``runs`` times, interleaved, after ``warmup`` untimed rounds.
    A command factory gets the run index (so a `set` can use a fresh name each time)."""
    samples = {key: Sample() for key in cmds}
    for i in range(-warmup, runs):
        for key, factory in cmds.items():
            argv, env, stdin = factory(i + warmup * 1000 + 10_000)
            ms, rss = run_once(argv, env, stdin)
            if i >= 0:
                samples[key].wall_ms.append(ms)
                samples[key].maxrss_kb.append(rss)
    for key, factory in cmds.items():
        peak = peak_rss_kb(*factory(runs + 20_000))
        if peak is not None:
            samples[key].maxrss_kb = [peak]
    return samples


def peak_rss_kb(argv: Sequence[str], env: dict[str, str], stdin: bytes | None) -> int | None:
    """Peak RSS of one more run, measured by GNU time. A child's own ru_maxrss from wait4
    also counts the pages of this (large) benchmark process it was forked from, before
    it exec'd; GNU time is a small process, so what it reports is the command's own."""
    gnu_time = shutil.which("time", path="/usr/bin")
    if gnu_time is None:
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        run_once([gnu_time, "-f", "%M", "-o", out.name, *argv], env, stdin)
        return int(out.read().split()[-1])


def ratio_row(section: str, subject: str, baseline: str, samples: dict[str, Sample],
              target: float | None) -> Row:
    a, b = samples[subject], samples[baseline]
    return Row(section, subject, round(a.median_ms, 1), round(a.peak_kb / 1024, 1),
               baseline, round(b.median_ms, 1), round(a.median_ms / b.median_ms, 2), target)


def plain_row(section: str, subject: str, sample: Sample) -> Row:
    return Row(section, subject, round(sample.median_ms, 1), round(sample.peak_kb / 1024, 1))


# -- sections -------------------------------------------------------------------------------

def cli(env: BenchEnv, *args: str) -> list[str]:
    return [MCP_ROUTER, "--backend", env.backend, *args]


def bench_file(runs: int) -> list[Row]:
    rows: list[Row] = []
    with BenchEnv.file() as env:
        env.populate(10)
        floor = [sys.executable, str(ROOT / "scripts" / "bench_floor.py"), "file",
                 str(env.file_path), "bench-0"]
        s = alternate({
            "mcp-router token get (file)": lambda i: (
                cli(env, "token", "get", "--name", "bench-0", "--export", "--yes"), env.env,
                None),
            "python: PBKDF2 + AES-GCM decrypt": lambda i: (floor, env.env, None),
            # References that explain the gap: the interpreter alone, and the CLI framework.
            "python -c pass": lambda i: ([sys.executable, "-c", "pass"], env.env, None),
            "python -c 'import click'": lambda i: ([sys.executable, "-c", "import click"],
                                                  env.env, None),
        }, runs)
        rows.append(ratio_row("file", "mcp-router token get (file)",
                              "python: PBKDF2 + AES-GCM decrypt", s, 1.3))
        for reference in ("python -c pass", "python -c 'import click'"):
            rows.append(ratio_row("file", reference, "python: PBKDF2 + AES-GCM decrypt", s,
                                  None))
        small = alternate({
            "token set --stdin (file, 10 tokens)": lambda i: (
                cli(env, "token", "set", "--name", f"new-{i}", "--stdin"), env.env, b"v" * 40),
        }, runs)
        rows.append(plain_row("file", "token set --stdin (file, 10 tokens)",
                              small["token set --stdin (file, 10 tokens)"]))

    with BenchEnv.file() as big, BenchEnv.file() as little:
        big.populate(10_000)
        little.populate(10)
        s = alternate({
            "token set (file, 10,000 tokens)": lambda i: (
                cli(big, "token", "set", "--name", f"new-{i}", "--stdin"), big.env, b"v" * 40),
            "token set (file, 10 tokens)": lambda i: (
                cli(little, "token", "set", "--name", f"new-{i}", "--stdin"), little.env,
                b"v" * 40),
        }, runs)
        rows.append(ratio_row("scale", "token set (file, 10,000 tokens)",
                              "token set (file, 10 tokens)", s, 1.5))
        s = alternate({
            "token list (file, 10,000 tokens)": lambda i: (cli(big, "token", "list"), big.env,
                                                          None),
            "token get (file, 10,000 tokens)": lambda i: (
                cli(big, "token", "get", "--name", "bench-5", "--export", "--yes"), big.env,
                None),
        }, runs)
        rows.append(ratio_row("scale", "token list (file, 10,000 tokens)",
                              "token get (file, 10,000 tokens)", s, 1.5))
        s = alternate({
            "token get (file, 10,000 tokens)": lambda i: (
                cli(big, "token", "get", "--name", "bench-5", "--export", "--yes"), big.env,
                None),
            "token get (file, 10 tokens)": lambda i: (
                cli(little, "token", "get", "--name", "bench-5", "--export", "--yes"),
                little.env, None),
        }, runs)
        rows.append(ratio_row("scale", "token get (file, 10,000 tokens)",
                              "token get (file, 10 tokens)", s, None))
    return rows


def bench_concurrency(procs: int = 8, per_proc: int = 25) -> list[Row]:
    """8 processes doing mixed set/get; throughput and lost or corrupt writes."""
    with BenchEnv.file() as env:
        env.populate(10)
        worker = [sys.executable, str(ROOT / "scripts" / "bench_worker.py")]
        start = time.perf_counter()
        children = [subprocess.Popen([*worker, str(w), str(per_proc)], env=env.env)
                    for w in range(procs)]
        codes = [c.wait() for c in children]
        elapsed = time.perf_counter() - start
        lost = env.count_missing([f"w{w}-{i}" for w in range(procs) for i in range(per_proc)],
                                 lambda name: f"value-{name}")
        ops = procs * per_proc * 2
        row = Row("concurrency", f"{procs} processes x {per_proc} set+get (file, library)",
                  round(elapsed * 1000, 1), 0.0)
        row.subject += (f": {ops / elapsed:.0f} ops/s, lost or corrupt: {lost}, "
                        f"failed workers: {sum(1 for c in codes if c)}")
        return [row]


def bench_secret_service(runs: int) -> list[Row]:
    with secret_service_env() as env:
        if env is None:
            return [Row("secret-service", "skipped: gnome-keyring/dbus not installed", 0, 0)]
        env.populate(10)
        name = "bench-3"
        peers: dict[str, Callable[[int], Cmd]] = {
            "mcp-router token get (secret-service)": lambda i: (
                cli(env, "token", "get", "--name", name, "--export", "--yes"), env.env, None),
            "python: secretstorage lookup": lambda i: (
                [sys.executable, str(ROOT / "scripts" / "bench_floor.py"), "secret-service",
                 "-", name], env.env, None),
            "secret-tool lookup": lambda i: (
                ["secret-tool", "lookup", "application", "mcp-router", "token_name", name],
                env.env, None),
        }
        keyring = BIN / "keyring"
        if keyring.exists():
            peers["keyring get"] = lambda i: ([str(keyring), "get", "mcp-router-bench", name],
                                              env.env, None)
            env.keyring_set("mcp-router-bench", name, "v" * 40)
        s = alternate(peers, runs)
        rows = [ratio_row("secret-service", "mcp-router token get (secret-service)",
                          "python: secretstorage lookup", s, 1.3)]
        if "keyring get" in s:
            rows.append(ratio_row("secret-service", "mcp-router token get (secret-service)",
                                  "keyring get", s, 0.5))
        rows.append(ratio_row("secret-service", "mcp-router token get (secret-service)",
                              "secret-tool lookup", s, None))
        env.populate(1000)
        s = alternate({
            "token list (secret-service, 1,000 items)": lambda i: (
                cli(env, "token", "list"), env.env, None),
            "token get (secret-service, 1,000 items)": lambda i: (
                cli(env, "token", "get", "--name", "bench-500", "--export", "--yes"), env.env,
                None),
        }, max(3, runs // 2))
        rows.append(ratio_row("secret-service", "token list (secret-service, 1,000 items)",
                              "token get (secret-service, 1,000 items)", s, None))
        return rows


def bench_pass(runs: int) -> list[Row]:
    with pass_env() as env:
        if env is None:
            return [Row("custom/pass", "skipped: pass or gpg not installed", 0, 0)]
        env.populate(3)
        s = alternate({
            "mcp-router token get (custom: pass)": lambda i: (
                cli(env, "token", "get", "--name", "bench-1", "--export", "--yes"), env.env,
                None),
            "pass show": lambda i: (["pass", "show", "bench-1"], env.env, None),
        }, runs)
        return [ratio_row("custom/pass", "mcp-router token get (custom: pass)", "pass show", s,
                          None)]


def bench_metadata_audit(runs: int) -> list[Row]:
    with BenchEnv.file() as env:
        env.populate(10)
        env.populate_index(100_000)
        have_audit = env.populate_audit(100_000)
        cmds: dict[str, Callable[[int], Cmd]] = {
            "token get (index with 100,000 rows)": lambda i: (
                cli(env, "token", "get", "--name", "bench-3", "--export", "--yes"), env.env,
                None),
            "token list (index with 100,000 rows)": lambda i: (cli(env, "token", "list"),
                                                              env.env, None),
        }
        if have_audit:
            cmds["token audit --days 7 (100,000 records)"] = lambda i: (
                cli(env, "token", "audit", "--days", "7"), env.env, None)
        s = alternate(cmds, runs)
        rows = [ratio_row("index+audit", "token list (index with 100,000 rows)",
                          "token get (index with 100,000 rows)", s, 1.5)]
        if have_audit:
            rows.append(ratio_row("index+audit", "token audit --days 7 (100,000 records)",
                                  "token get (index with 100,000 rows)", s, 1.5))
        return rows


def bench_pkcs11(runs: int) -> list[Row]:
    with BenchEnv.pkcs11() as env:
        if env is None:
            return [Row("pkcs11", "skipped: softhsm2 or the pkcs11 backend not available", 0,
                        0)]
        env.populate(3)
        s = alternate({
            "mcp-router token get (pkcs11, SoftHSM2)": lambda i: (
                cli(env, "token", "get", "--name", "bench-1", "--export", "--yes"), env.env,
                None),
            "python: python-pkcs11 read of one object": lambda i: (
                [sys.executable, str(ROOT / "scripts" / "bench_floor.py"), "pkcs11", "-",
                 "bench-1"], env.env, None),
        }, runs)
        return [ratio_row("pkcs11", "mcp-router token get (pkcs11, SoftHSM2)",
                          "python: python-pkcs11 read of one object", s, None)]


SECTIONS: dict[str, Callable[[int], list[Row]]] = {
    "file": bench_file,
    "secret-service": bench_secret_service,
    "pass": bench_pass,
    "pkcs11": bench_pkcs11,
    "index-audit": bench_metadata_audit,
    "concurrency": lambda runs: bench_concurrency(),
}


def render(rows: list[Row]) -> str:
    head = ("section", "command", "median ms", "peak MB", "vs", "ratio", "target", "")
    body = [(r.section, r.subject, f"{r.median_ms:.1f}", f"{r.peak_mb:.1f}",
             r.baseline or "", f"{r.ratio:.2f}x" if r.ratio is not None else "",
             f"<= {r.target}x" if r.target is not None else "", r.verdict) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True))
             + " |" for line in [head, *body]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS))
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "bench.json"))
    args = parser.parse_args()
    rows: list[Row] = []
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(section(args.runs))
    print(render(rows))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, "python": sys.version.split()[0],
                               "rows": [asdict(r) for r in rows]}, indent=2))
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
