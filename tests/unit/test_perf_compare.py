"""``trunkline perf compare`` on result files written by real pytest-benchmark runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trunkline.perf.compare import BenchmarkFileError, compare, load_benchmarks, to_markdown

pytest.importorskip("pytest_benchmark")

BENCH = textwrap.dedent('''\
    import os
    import time

    DELAY = float(os.environ["BENCH_DELAY"])


    def busy(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass


    def test_tuned(benchmark):
        benchmark.pedantic(busy, args=(DELAY,), rounds=25, iterations=1, warmup_rounds=1)


    def test_same(benchmark):
        benchmark.pedantic(busy, args=(0.0002,), rounds=25, iterations=1, warmup_rounds=1)


    def test_few_rounds(benchmark):
        benchmark.pedantic(busy, args=(0.0001,), rounds=3, iterations=1)
    ''')


def run_benchmarks(folder: Path, delay: float, name: str) -> Path:
    (folder / "bench").mkdir(parents=True, exist_ok=True)
    (folder / "bench" / "test_bench.py").write_text(BENCH)
    out = folder / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={folder}",
                           "--benchmark-json", str(out), "--benchmark-disable-gc", "bench"],
                          cwd=folder, env={**env, "BENCH_DELAY": str(delay)}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("perf")
    # the head makes test_tuned five times slower: far beyond scheduling noise on a busy machine
    return {"base": run_benchmarks(folder, 0.0004, "base"), "head": run_benchmarks(folder, 0.002, "head")}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trunkline.cli", "perf", "compare", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.slow
def test_real_files_hold_raw_timings(results) -> None:
    loaded = load_benchmarks(json.loads(results["base"].read_text()))
    tuned = loaded["bench/test_bench.py::test_tuned"]
    assert tuned.data is not None and len(tuned.data) == 25 and all(t >= 0.0004 for t in tuned.data)


@pytest.mark.slow
def test_slower_and_faster_on_real_runs(results, tmp_path: Path) -> None:
    base = load_benchmarks(json.loads(results["base"].read_text()))
    head = load_benchmarks(json.loads(results["head"].read_text()))
    report = compare(base, head)
    verdicts = {c.name.split("::")[1]: c for c in report.comparisons}
    assert verdicts["test_tuned"].verdict == "slower"
    assert verdicts["test_tuned"].change > 1.0 and verdicts["test_tuned"].p_value < 1e-6
    assert verdicts["test_few_rounds"].verdict == "no data"
    assert not report.passed
    assert {c.name.split("::")[1]: c.verdict for c in compare(head, base).comparisons}["test_tuned"] == "faster"

    proc = cli(str(results["base"]), str(results["head"]), "--json", str(tmp_path / "perf.json"),
               "--markdown", str(tmp_path / "perf.md"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "slower  bench/test_bench.py::test_tuned" in proc.stdout
    data = json.loads((tmp_path / "perf.json").read_text())
    assert data["verdict"] == "fail" and data["summary"]["slower"] == 1 and data["summary"]["no_data"] == 1
    assert "🔴 slower" in (tmp_path / "perf.md").read_text()


@pytest.mark.slow
def test_a_file_against_itself_is_unchanged(results) -> None:
    proc = cli(str(results["base"]), str(results["base"]), "--allow-no-data")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "unchanged  bench/test_bench.py::test_tuned" in proc.stdout
    assert "no data  bench/test_bench.py::test_few_rounds" in proc.stdout  # reported even when allowed
    # without --allow-no-data a benchmark that cannot be judged fails the comparison
    assert cli(str(results["base"]), str(results["base"])).returncode == 1
    assert cli(str(results["base"]), str(results["base"]), "--min-samples", "3").returncode == 0


@pytest.mark.slow
def test_missing_benchmarks_and_missing_raw_data_are_no_data(results) -> None:
    base = json.loads(results["base"].read_text())
    head = json.loads(results["head"].read_text())
    head["benchmarks"] = [b for b in head["benchmarks"] if not b["name"].startswith("test_same")]
    renamed = dict(head["benchmarks"][0], fullname="bench/test_bench.py::test_new", name="test_new")
    head["benchmarks"].append(renamed)
    stripped = json.loads(json.dumps(base))
    for bench in stripped["benchmarks"]:
        bench["stats"].pop("data")  # what --benchmark-save writes without --benchmark-save-data
    report = compare(load_benchmarks(base), load_benchmarks(head))
    reasons = {c.name.split("::")[1]: (c.verdict, c.reason) for c in report.comparisons}
    assert reasons["test_same"] == ("no data", "missing from the head file (removed or not run?)")
    assert reasons["test_new"][0] == "no data" and "new benchmark" in reasons["test_new"][1]
    stripped_report = compare(load_benchmarks(stripped), load_benchmarks(base))
    assert all(c.verdict == "no data" for c in stripped_report.comparisons)
    assert "no raw timings" in stripped_report.comparisons[0].reason
    assert "| ⚪ no data |" in to_markdown(stripped_report)


@pytest.mark.slow
def test_bad_input_is_a_usage_error(tmp_path: Path, results) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"something": []}')
    proc = cli(str(tmp_path / "broken.json"), str(results["head"]))
    assert proc.returncode == 2 and "broken.json:1:2: not JSON" in proc.stderr
    proc = cli(str(tmp_path / "other.json"), str(results["head"]))
    assert proc.returncode == 2 and "not a pytest-benchmark JSON file" in proc.stderr
    assert cli(str(tmp_path / "nope.json"), str(results["head"])).returncode == 2
    assert cli(str(results["base"]), str(results["head"]), "--alpha", "2").returncode == 2
    with pytest.raises(BenchmarkFileError, match=r"benchmarks\[0\] has no name"):
        load_benchmarks({"benchmarks": [{"stats": {}}]})
