"""Breaking-change diff at scale: GitHub Enterprise Server 3.17 -> 3.18 REST descriptions (~11 MB each).

    .venv/bin/python bench/contracts_diff.py [--cap-mb 1024] [--peer-timeout 120] [--no-peer]

Data: ``npm pack @octokit/openapi@23.0.2`` into ``.bench/octokit`` (gitignored, never committed) gives
``generated/ghes-3.17.json`` and ``ghes-3.18.json``. Without npm the bench falls back to the corpus'
``api.github.com.json`` against a deterministically mutated copy (and says so).

Ours runs in a child process under an address-space cap (``RLIMIT_AS``); the peer, ``openapi-diff@0.24.1``
(installed with npm into ``.bench/node``), runs under node with ``--max-old-space-size`` set to the same
cap and a time limit. Each child's peak RSS comes from ``wait4``'s rusage. Goal: ours < 10 s and
< 1 GB peak. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench"
OCTOKIT = CACHE / "octokit"
NODE_DIR = CACHE / "node"
PEER = "openapi-diff@0.24.1"
GOALS = {"seconds": "<10", "peak_mb": "<1024"}

OURS = r"""
import json, sys, time
t0 = time.perf_counter()
from trunkline.contracts.sources import load_source
from trunkline.contracts.diff import diff
base = load_source(sys.argv[1]); head = load_source(sys.argv[2])
found = diff(base, head)
levels = {}
for f in found:
    levels[f.level.value] = levels.get(f.level.value, 0) + 1
print(json.dumps({"seconds": time.perf_counter() - t0, "findings": len(found), "levels": levels}))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fetch_ghes() -> tuple[Path, Path] | None:
    gen = OCTOKIT / "package" / "generated"
    a, b = gen / "ghes-3.17.json", gen / "ghes-3.18.json"
    if a.exists() and b.exists():
        return a, b
    if shutil.which("npm") is None:
        return None
    OCTOKIT.mkdir(parents=True, exist_ok=True)
    log("fetching @octokit/openapi@23.0.2 with npm pack ...")
    try:
        proc = subprocess.run(["npm", "pack", "@octokit/openapi@23.0.2"], cwd=OCTOKIT, capture_output=True,
                              text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return None
    tgz = OCTOKIT / "octokit-openapi-23.0.2.tgz"
    if proc.returncode != 0 or not tgz.exists():
        log(f"npm pack failed: {proc.stderr.strip()[:300]}")
        return None
    with tarfile.open(tgz) as tar:
        members = [m for m in tar.getmembers() if m.name in ("package/generated/ghes-3.17.json",
                                                             "package/generated/ghes-3.18.json")]
        tar.extractall(OCTOKIT, members=members, filter="data")
    return (a, b) if a.exists() and b.exists() else None


def fallback_pair(tmp: Path) -> tuple[Path, Path]:
    """The corpus description against a copy with removed paths and changed schemas."""
    sys.path.insert(0, str(ROOT / "bot"))
    from trunkline.corpus import rest_description_path

    src = rest_description_path()
    doc = json.loads(src.read_text())
    head = copy.deepcopy(doc)
    for i, p in enumerate(sorted(head["paths"])):
        if i % 40 == 0:
            del head["paths"][p]
    for i, (_name, schema) in enumerate(sorted(head["components"]["schemas"].items())):
        if i % 25 == 0 and isinstance(schema, dict) and isinstance(schema.get("required"), list) and schema["required"]:
            schema["required"] = schema["required"][1:]
    a, b = tmp / "base.json", tmp / "head.json"
    a.write_text(json.dumps(doc, indent=2))
    b.write_text(json.dumps(head, indent=2))
    return a, b


def run_child(cmd: list[str], *, cap_mb: int | None, timeout: float, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` in its own session; wall time, peak RSS (wait4 rusage), output, timeout handling."""

    def limit() -> None:
        if cap_mb is not None:
            cap = cap_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True,
                                preexec_fn=limit if cap_mb is not None else None)
        deadline = t0 + timeout
        status, rusage, timed_out = None, None, False
        while True:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status, rusage = st, ru
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # our own child's session only
                _, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"seconds": seconds, "peak_mb": rusage.ru_maxrss / 1024 if rusage else None,
                "returncode": proc.returncode, "timed_out": timed_out,
                "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


def run_ours(base: Path, head: Path, cap_mb: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bot"))
    r = run_child([sys.executable, "-c", OURS, str(base), str(head)], cap_mb=cap_mb, timeout=300, env=env)
    if r["returncode"] != 0:
        log(r["stderr"][-2000:])
        oom = "MemoryError" in r["stderr"]
        return {"seconds": round(r["seconds"], 2), "peak_mb": round(r["peak_mb"] or 0, 1), "findings": None,
                "outcome": "oom" if oom else "error"}
    data = json.loads(r["stdout"].strip().splitlines()[-1])
    return {"seconds": round(r["seconds"], 2), "diff_seconds": round(data["seconds"], 2),
            "peak_mb": round(r["peak_mb"], 1), "findings": data["findings"], "levels": data["levels"],
            "outcome": "ok"}


def peer_installed() -> Path | None:
    cli = NODE_DIR / "node_modules" / "openapi-diff" / "bin" / "openapi-diff"
    if cli.exists():
        return cli
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    log(f"installing {PEER} into {NODE_DIR} ...")
    try:
        proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR), PEER],
                              capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        log(f"npm install failed: {proc.stderr.strip()[:300]}")
        return None
    return cli if cli.exists() else None


def run_peer(base: Path, head: Path, cap_mb: int, timeout: float) -> dict[str, Any]:
    cli = peer_installed()
    if cli is None:
        return {"tool": PEER, "seconds": None, "peak_mb": None, "findings": None, "outcome": "unavailable"}
    r = run_child(["node", f"--max-old-space-size={cap_mb}", str(cli), str(base), str(head)], cap_mb=None,
                  timeout=timeout)
    res: dict[str, Any] = {"tool": PEER, "seconds": round(r["seconds"], 2),
                           "peak_mb": round(r["peak_mb"], 1) if r["peak_mb"] else None, "findings": None}
    if r["timed_out"]:
        res["outcome"] = "timeout"
        return res
    text = r["stdout"]
    if "heap out of memory" in r["stderr"] or "Allocation failed" in r["stderr"] or r["returncode"] in (-6, 134):
        res["outcome"] = "oom"
        return res
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        data = None
    if data is None:
        res["outcome"] = "error"
        log(r["stderr"][-1000:])
        return res
    res["findings"] = sum(len(data.get(k, [])) for k in ("breakingDifferences", "nonBreakingDifferences",
                                                          "unclassifiedDifferences"))
    res["outcome"] = "ok"
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cap-mb", type=int, default=1024, help="memory cap for both tools (default 1024)")
    ap.add_argument("--peer-timeout", type=float, default=120.0)
    ap.add_argument("--no-peer", action="store_true", help="skip openapi-diff")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="trunkline-bench-"))
    try:
        pair = fetch_ghes()
        label = "ghes-3.17.json -> ghes-3.18.json"
        if pair is None:
            label = "api.github.com.json -> mutated copy (ghes descriptions unavailable)"
            pair = fallback_pair(tmp)
        base, head = pair
        log(f"pair: {label} ({base.stat().st_size / 1e6:.1f} MB -> {head.stat().st_size / 1e6:.1f} MB)")
        ours = run_ours(base, head, args.cap_mb)
        log(f"ours: {ours['seconds']} s, peak {ours['peak_mb']} MB, {ours['findings']} findings "
            f"{ours.get('levels', '')}")
        if args.no_peer:
            peer = {"tool": PEER, "seconds": None, "peak_mb": None, "findings": None, "outcome": "unavailable"}
        else:
            peer = run_peer(base, head, args.cap_mb, args.peer_timeout)
        log(f"peer ({PEER}): {peer['outcome']}, {peer['seconds']} s, peak {peer['peak_mb']} MB, "
            f"{peer['findings']} findings (cap {args.cap_mb} MB, limit {args.peer_timeout:.0f} s)")
        ok = ours["outcome"] == "ok" and ours["seconds"] < 10 and ours["peak_mb"] < 1024
        print(json.dumps({"bench": "contracts_diff", "pair": label, "cap_mb": args.cap_mb,
                          "ours": {k: ours[k] for k in ("seconds", "peak_mb", "findings")},
                          "peer": {k: peer[k] for k in ("tool", "seconds", "peak_mb", "findings", "outcome")},
                          "goals": GOALS, "pass": ok}))
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
