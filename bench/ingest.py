"""Ingest benchmark: signed webhook deliveries against a real ``trunkline serve`` subprocess.

    .venv/bin/python bench/ingest.py [--n 5000] [--concurrency 32] [--workers 2]

Starts ``trunkline serve`` on a free loopback port (SQLite store + SQLite queue in a temp dir, a
processor that does nothing), sends a warm-up and then N signed deliveries (a mix of real octokit
example payloads: pull_request, push, check_run, issue_comment, compact JSON like GitHub sends) at
concurrency C from a separate client process (asyncio over raw keep-alive HTTP/1.1 connections, all
requests built and signed before the clock starts, so the client stays cheap), then SIGKILLs the
server and counts the rows that survived: ``lost = sent - stored``. Every request must be
acknowledged (202) — an ack means committed, so a SIGKILL right after must lose nothing.

Prints throughput, p50/p99 acknowledgement latency, and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
GOALS = {"throughput_per_s": ">=1000", "p99_ms": "<20", "lost": "==0"}
EXAMPLES = [
    ("pull_request", "pull_request/opened.payload.json"),
    ("push", "push/payload.json"),
    ("check_run", "check_run/completed.payload.json"),
    ("issue_comment", "issue_comment/created.payload.json"),
]


# --------------------------------------------------------------------------------------- client
def _examples() -> list[tuple[str, bytes]]:
    sys.path.insert(0, str(ROOT / "bot"))
    from trunkline.corpus import webhook_examples_dir

    base = webhook_examples_dir()
    out = []
    for event, rel in EXAMPLES:
        path = base / rel
        if not path.exists():  # fall back to any example of that event
            candidates = sorted((base / event).glob("*.json"))
            if not candidates:
                continue
            path = candidates[0]
        out.append((event, json.dumps(json.loads(path.read_text()), separators=(",", ":")).encode()))
    if not out:  # no corpus: a tiny ping body, far cheaper to verify, parse and store (said in the results)
        out.append(("ping", b'{"zen":"Keep it logically awesome.","hook_id":1}'))
    return out


def payload_mix() -> dict[str, object]:
    """What the deliveries carry, for the results: real octokit examples or the ping fallback, and their
    mean body size (signature, parse and insert costs grow with it, so runs compare only like for like)."""
    examples = _examples()
    source = "octokit examples" if examples[0][0] != "ping" else "ping fallback (corpus not found: TRUNKLINE_CORPUS)"
    return {"payloads": source, "events": sorted({e for e, _ in examples}),
            "mean_body_bytes": round(sum(len(b) for _, b in examples) / len(examples))}


def build_requests(n: int, port: int, run_id: str, start: int) -> list[tuple[str, bytes]]:
    """``(guid, raw HTTP request)`` for deliveries ``start .. start+n-1``."""
    from trunkline.ingest.signature import sign

    examples = _examples()
    requests = []
    for i in range(start, start + n):
        event, body = examples[i % len(examples)]
        # Vary the body per delivery (GitHub bodies differ), keep it valid JSON.
        body = body[:-1] + b',"bench_seq":' + str(i).encode() + b"}"
        guid = f"{run_id}-{i:07d}"
        head = (
            f"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
            f"Content-Type: application/json\r\nX-GitHub-Event: {event}\r\nX-GitHub-Delivery: {guid}\r\n"
            f"X-GitHub-Hook-ID: 1\r\nX-Hub-Signature-256: {sign(SECRET, body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        requests.append((guid, head + body))
    return requests


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _drive(port: int, requests: list[tuple[str, bytes]], concurrency: int) -> dict:
    latencies: list[float] = [0.0] * len(requests)
    starts: list[float] = [0.0] * len(requests)
    statuses: dict[int, int] = {}
    next_index = 0

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < len(requests):
                i = next_index
                next_index += 1
                t0 = time.perf_counter()
                writer.write(requests[i][1])
                status = await _read_response(reader)
                latencies[i] = time.perf_counter() - t0
                starts[i] = t0
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "latencies": latencies, "starts": [s - t0 for s in starts],
            "statuses": statuses}


def client_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    warm = build_requests(args.warmup, args.port, args.run_id, 0)
    main = build_requests(args.n, args.port, args.run_id, args.warmup)
    if warm:
        asyncio.run(_drive(args.port, warm, args.concurrency))
    result = asyncio.run(_drive(args.port, main, args.concurrency))
    result["guids"] = [g for g, _ in warm + main]
    Path(args.out).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"trunkline serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("trunkline serve did not become healthy")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live child processes (Linux /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, ValueError):
        pass
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="worker threads per trunkline serve process")
    parser.add_argument("--processes", type=int, default=1, help="trunkline serve --processes")
    parser.add_argument("--tmpdir", default=None, help="where the temp dir with the databases goes")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (databases, client results)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="trunkline-bench-", dir=args.tmpdir))
    port = free_port()
    env = dict(os.environ)
    env.update({
        "TRUNKLINE_DATA_DIR": str(tmp),
        "TRUNKLINE_DATABASE_URL": f"sqlite:///{tmp}/trunkline.db",
        "TRUNKLINE_QUEUE_URL": f"sqlite:///{tmp}/queue.db",
        "TRUNKLINE_WEBHOOK_SECRET": SECRET,
        "TRUNKLINE_PROCESSOR": "trunkline.jobs.runtime:build_noop_processor",
        "TRUNKLINE_MISSED_DELIVERY_INTERVAL": "0",
    })
    server = subprocess.Popen(
        [sys.executable, "-m", "trunkline.cli", "serve", "--port", str(port), "--workers", str(args.workers),
         "--processes", str(args.processes), "--log-level", "warning"], env=env, cwd=tmp)
    try:
        wait_healthy(port, server)
        out = tmp / "client.json"
        run_id = uuid.uuid4().hex[:12]
        cpu0 = cpu_seconds(server.pid)
        subprocess.run(
            [sys.executable, __file__, "--client", "--port", str(port), "--n", str(args.n), "--concurrency",
             str(args.concurrency), "--warmup", str(args.warmup), "--run-id", run_id, "--out", str(out)],
            check=True, env=env)
        server_cpu = cpu_seconds(server.pid) - cpu0
        result = json.loads(out.read_text())
        time.sleep(0.2)
        processed = _count(tmp / "trunkline.db", "status = 'done'")
    finally:
        # SIGKILL: nothing may be flushed on the way out; acknowledged means already durable.
        server.send_signal(signal.SIGKILL)
        server.wait()
    sent = len(result["guids"])
    stored = _stored(tmp / "trunkline.db", result["guids"])
    lat_ms = [x * 1000 for x in result["latencies"]]
    throughput = args.n / result["elapsed"]
    p50, p99 = percentile(lat_ms, 0.50), percentile(lat_ms, 0.99)
    statuses = {int(k): v for k, v in result["statuses"].items()}
    acked = statuses.get(202, 0)
    lost = sent - stored
    print(f"deliveries: {args.n} (+{args.warmup} warm-up) at concurrency {args.concurrency}; server: "
          f"{args.processes} process(es) with {args.workers} worker thread(s) each")
    print(f"statuses: {statuses}  (202 acknowledged: {acked}/{args.n})")
    print(f"throughput: {throughput:.0f}/s   ack latency p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
          f"max {max(lat_ms):.2f} ms")
    print(f"server CPU: {server_cpu:.2f} s for {sent} deliveries = {server_cpu / sent * 1e6:.0f} us each "
          f"(load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
    print(f"stored after SIGKILL: {stored}/{sent}  lost: {lost}   processed by workers meanwhile: {processed}")
    mix = payload_mix()
    print(f"payloads: {mix['payloads']} ({', '.join(mix['events'])}), mean body {mix['mean_body_bytes']} bytes")
    ok = throughput >= 1000 and p99 < 20 and lost == 0 and acked == args.n
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({
        "bench": "ingest", "n": args.n, "concurrency": args.concurrency,
        "throughput_per_s": round(throughput, 1), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
        "lost": lost, "goals": GOALS, "pass": ok,
        # context for comparing runs on a shared machine
        "processes": args.processes, "workers": args.workers,
        "server_cpu_us_per_delivery": round(server_cpu / sent * 1e6), "load_avg_1m": round(os.getloadavg()[0], 2),
        "payloads": mix["payloads"], "mean_body_bytes": mix["mean_body_bytes"],
    }))
    return 0


def _stored(db: Path, guids: list[str]) -> int:
    conn = sqlite3.connect(db)
    try:
        have = {r[0] for r in conn.execute("SELECT guid FROM deliveries")}
    finally:
        conn.close()
    return sum(1 for g in guids if g in have)


def _count(db: Path, where: str) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute(f"SELECT count(*) FROM deliveries WHERE {where}").fetchone()[0])
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
