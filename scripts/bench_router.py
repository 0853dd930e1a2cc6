"""Relay figures for ``mcp-router run``: start-up and per-call overhead, against calling the
gateway directly and against npm ``mcp-remote`` (when npm can install it), in one run.

- start-up: spawn the process, send ``initialize`` on stdin, wait for the answer.
- per call: N sequential ``tools/call`` after the handshake, the peers taking turns (so that
  load on the machine hits all alike); p50/p90 per call, and the p50 overhead of each peer
  over the relay's own HTTP client used in-process (the cost of the relay hop itself).
  httpx, called directly, is listed too.

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
DIRECT = "direct HTTP (h11, in-process)"


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


class PipeCaller:
    """A stdio peer after its handshake: one ``tools/call`` per call."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pipe = Pipe(argv, env)
        self.pipe.call(INIT)
        self.pipe.send(INITIALIZED)

    def __call__(self, n: int) -> None:
        reply = self.pipe.call(tool_call(n))
        assert "result" in reply, reply

    def close(self) -> None:
        self.pipe.close()


class HTTPXCaller:
    """The gateway called directly with httpx (synchronous, keep-alive)."""

    def __init__(self, url: str, token: str) -> None:
        import httpx

        self.url = url
        self.client = httpx.Client(timeout=30)
        base = {"Accept": "application/json, text/event-stream",
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        answer = self.client.post(url, json=INIT, headers=base)
        self.headers = {**base, "Mcp-Session-Id": answer.headers["mcp-session-id"],
                        "MCP-Protocol-Version": "2025-06-18"}
        self.client.post(url, json=INITIALIZED, headers=self.headers)

    def __call__(self, n: int) -> None:
        reply = self.client.post(self.url, json=tool_call(n), headers=self.headers).json()
        assert "result" in reply, reply

    def close(self) -> None:
        self.client.close()


class H11Caller:
    """The gateway called directly with the relay's own HTTP client, in-process: what is
    left over when comparing with the relay is the cost of the relay hop itself."""

    def __init__(self, url: str, token: str) -> None:
        import asyncio

        from mcp_router.router.httpclient import HTTPClient

        self.url = url
        self.loop = asyncio.new_event_loop()
        self.client = HTTPClient(url)
        base = {"Accept": "application/json, text/event-stream",
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        answer, _ = self.loop.run_until_complete(self._post(INIT, base))
        self.headers = {**base, "Mcp-Session-Id": answer.headers["mcp-session-id"],
                        "MCP-Protocol-Version": "2025-06-18"}
        self.loop.run_until_complete(self._post(INITIALIZED, self.headers))

    async def _post(self, message: dict[str, Any], headers: dict[str, str]) -> Any:
        response = await self.client.request("POST", self.url, headers,
                                             json.dumps(message).encode())
        body = await response.aread()
        await response.aclose()
        return response, body

    def __call__(self, n: int) -> None:
        _, body = self.loop.run_until_complete(self._post(tool_call(n), self.headers))
        assert b'"result"' in body, body

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def interleaved(callers: dict[str, Any], calls: int) -> dict[str, list[float]]:
    """Round-robin over the peers (order shuffled each round), so that load on the machine
    affects all of them alike."""
    import random

    for caller in callers.values():
        for n in range(5):  # warm up connections and caches
            caller(1000 + n)
    times: dict[str, list[float]] = {name: [] for name in callers}
    names = list(callers)
    for n in range(calls):
        random.shuffle(names)
        for name in names:
            start = time.perf_counter()
            callers[name](n)
            times[name].append(time.perf_counter() - start)
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
        starts: dict[str, list[float]] = {name: [] for name in peers}
        for _ in range(args.runs):  # alternate the peers run by run
            for name, argv in peers.items():
                starts[name].append(startup(argv, env))
        callers: dict[str, Any] = {name: PipeCaller(argv, env) for name, argv in peers.items()}
        callers[DIRECT] = H11Caller(gateway.url, token)
        callers["direct HTTP (httpx)"] = HTTPXCaller(gateway.url, token)
        try:
            times = interleaved(callers, args.calls)
        finally:
            for caller in callers.values():
                caller.close()
        results: dict[str, dict[str, float]] = {}
        for name, samples in times.items():
            results[name] = {
                "startup_ms": statistics.median(starts[name]) * 1000 if name in starts
                else float("nan"),
                "call_p50_ms": percentile(samples, 0.5) * 1000,
                "call_p90_ms": percentile(samples, 0.9) * 1000,
            }
    finally:
        gateway.stop()
        shutil.rmtree(work, ignore_errors=True)

    # The overhead is measured against the same HTTP client in-process, so it is the cost
    # of the relay hop itself (two pipe hops and the relay's own work).
    base = results[DIRECT]["call_p50_ms"]
    print(f"{'peer':30} {'start-up ms':>12} {'call p50 ms':>12} {'call p90 ms':>12} "
          f"{'p50 overhead ms':>16}")
    for name, r in results.items():
        overhead = r["call_p50_ms"] - base
        r["call_p50_overhead_ms"] = overhead
        print(f"{name:30} {r['startup_ms']:12.1f} {r['call_p50_ms']:12.3f} "
              f"{r['call_p90_ms']:12.3f} {overhead:16.3f}")
    summary: dict[str, Any] = {"runs": args.runs, "calls": args.calls, "results": results}
    if "mcp-remote" in results:
        ratio = results["mcp-router run"]["startup_ms"] / results["mcp-remote"]["startup_ms"]
        summary["startup_ratio_vs_mcp_remote"] = ratio
        print(f"\nstart-up, mcp-router run / mcp-remote: {ratio:.2f} (target <= 0.50)")
    print(f"per-call p50 overhead of mcp-router run over the same client in-process: "
          f"{results['mcp-router run']['call_p50_overhead_ms']:.3f} ms (target < 1 ms)")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, allow_nan=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
