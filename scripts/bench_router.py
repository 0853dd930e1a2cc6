"""Relay figures for ``mcp-router run``: start-up and per-call overhead, against calling the
gateway directly and against npm ``mcp-remote`` (when npm can install it), in one run.

- start-up: spawn the process, send ``initialize`` on stdin, wait for the answer.
- per call: N sequential ``tools/call`` after the handshake; p50/p90 per call, and the
  overhead of each relay over a direct HTTP client (httpx, keep-alive) on the same gateway.

The gateway is the SDK test gateway (``tests/fixtures/mcp_gateway.py``) on 127.0.0.1 with a
bearer token; the router reads the token from the encrypted-file store in a temporary HOME.
Medians of repeated runs; compare ratios, not absolute times (machines are noisy).
Results: a table on stdout and JSON in bench-results/router.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.mcpservers import Gateway, stop_process  # noqa: E402

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "bench", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class Pipe:
    """A stdio MCP server process spoken to line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if not self.sel.select(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("no answer")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("the process closed stdout")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(message)
        while True:
            reply = self.read()
            if reply.get("id") == message["id"]:
                return reply

    def close(self) -> None:
        self.sel.close()
        stop_process(self.proc)


def tool_call(n: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "x" * 64}}}


def startup(argv: list[str], env: dict[str, str]) -> float:
    pipe = Pipe(argv, env)
    try:
        reply = pipe.call(INIT)
        elapsed = time.perf_counter() - pipe.started
        assert "result" in reply, reply
        return elapsed
    finally:
        pipe.close()


def per_call(argv: list[str], env: dict[str, str], calls: int) -> list[float]:
    pipe = Pipe(argv, env)
    try:
        pipe.call(INIT)
        pipe.send(INITIALIZED)
        for n in range(5):  # warm up connections
            pipe.call(tool_call(1000 + n))
        times = []
        for n in range(calls):
            start = time.perf_counter()
            reply = pipe.call(tool_call(n))
            times.append(time.perf_counter() - start)
            assert "result" in reply, reply
        return times
    finally:
        pipe.close()


def direct(url: str, token: str, calls: int) -> list[float]:
    import httpx

    base = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
            "Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30) as client:
        answer = client.post(url, json=INIT, headers=base)
        headers = {**base, "Mcp-Session-Id": answer.headers["mcp-session-id"],
                   "MCP-Protocol-Version": "2025-06-18"}
        client.post(url, json=INITIALIZED, headers=headers)
        for n in range(5):
            client.post(url, json=tool_call(1000 + n), headers=headers)
        times = []
        for n in range(calls):
            start = time.perf_counter()
            reply = client.post(url, json=tool_call(n), headers=headers).json()
            times.append(time.perf_counter() - start)
            assert "result" in reply, reply
        client.delete(url, headers=headers)
    return times


def mcp_remote() -> Path | None:
    """The mcp-remote entry point, installed with the test tools (None if npm cannot)."""
    tools = ROOT / ".test-tools"
    proxy = tools / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
    if not proxy.exists() and shutil.which("npm"):
        tools.mkdir(exist_ok=True)
        shutil.copy(ROOT / "tests" / "fixtures" / "node" / "package.json", tools)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=tools, capture_output=True, timeout=300, check=False)
    return proxy if proxy.exists() and shutil.which("node") else None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="start-up runs per peer")
    parser.add_argument("--calls", type=int, default=300, help="sequential calls per peer")
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "router.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-router-"))
    token = "bench-" + secrets.token_urlsafe(16)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work),
           "XDG_CONFIG_HOME": str(work / ".config"), "LANG": "C.UTF-8",
           "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus", "BENCH_TOKEN": token}
    gateway = Gateway(work, {"GATEWAY_AUTH": "bearer", "GATEWAY_JSON": "1", **env})
    gateway.accept(token)
    gateway.start()
    try:
        subprocess.run([sys.executable, "-m", "mcp_router", "token", "set", "--name",
                        "gateway-token", "--stdin"], input=token.encode(), env=env, check=True,
                       capture_output=True)
        config = work / "mcp-router.yaml"
        config.write_text(f"version: 1\ngateway:\n  url: {gateway.url}\n  auth:\n"
                          "    type: bearer\n    token_secure_key: gateway-token\n"
                          "advanced:\n  secure_storage:\n    backend: file\n")
        peers: dict[str, list[str]] = {
            "mcp-router run": [sys.executable, "-m", "mcp_router", "run", "--config", str(config)],
        }
        remote = mcp_remote()
        if remote is not None:
            peers["mcp-remote"] = ["node", str(remote), gateway.url, "--allow-http",
                                   "--transport", "http-only",
                                   "--header", "Authorization:Bearer ${BENCH_TOKEN}"]
        results: dict[str, dict[str, float]] = {}
        for name, argv in peers.items():
            starts = [startup(argv, env) for _ in range(args.runs)]
            calls = per_call(argv, env, args.calls)
            results[name] = {"startup_ms": statistics.median(starts) * 1000,
                             "call_p50_ms": percentile(calls, 0.5) * 1000,
                             "call_p90_ms": percentile(calls, 0.9) * 1000}
        plain = direct(gateway.url, token, args.calls)
        results["direct HTTP (httpx)"] = {"startup_ms": float("nan"),
                                          "call_p50_ms": percentile(plain, 0.5) * 1000,
                                          "call_p90_ms": percentile(plain, 0.9) * 1000}
    finally:
        gateway.stop()
        shutil.rmtree(work, ignore_errors=True)

    base = results["direct HTTP (httpx)"]["call_p50_ms"]
    print(f"{'peer':24} {'start-up ms':>12} {'call p50 ms':>12} {'call p90 ms':>12} "
          f"{'p50 overhead ms':>16}")
    for name, r in results.items():
        overhead = r["call_p50_ms"] - base
        r["call_p50_overhead_ms"] = overhead
        print(f"{name:24} {r['startup_ms']:12.1f} {r['call_p50_ms']:12.3f} "
              f"{r['call_p90_ms']:12.3f} {overhead:16.3f}")
    summary: dict[str, Any] = {"runs": args.runs, "calls": args.calls, "results": results}
    if "mcp-remote" in results:
        ratio = results["mcp-router run"]["startup_ms"] / results["mcp-remote"]["startup_ms"]
        summary["startup_ratio_vs_mcp_remote"] = ratio
        print(f"\nstart-up, mcp-router run / mcp-remote: {ratio:.2f} (target <= 0.50)")
    print(f"per-call p50 overhead of mcp-router run over direct HTTP: "
          f"{results['mcp-router run']['call_p50_overhead_ms']:.3f} ms (target < 1 ms)")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, allow_nan=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
