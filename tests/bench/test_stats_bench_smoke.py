"""`python -m bench.stats` tiny: it runs, covers every dashboard endpoint, and the rollups and the raw logs
give the same answers (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(280)
def test_stats_bench_runs_and_both_ways_agree(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.stats", "--rows", "300", "--runs", "1", "--raw-runs", "1", "--mode", "embedded",
         "--data-dir", str(tmp_path / "data"), "--results-dir", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=270,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (report_file,) = results.glob("stats-*.json")
    report = json.loads(report_file.read_text())
    assert report["problems"] == [] and report["rows"] == 300 and report["engine"] == "SQLite"
    assert {row["endpoint"].split(" ")[0] for row in report["endpoints"]} == {
        "dashboard/stats", "dashboard/trend", "dashboard/models", "dashboard/groups", "dashboard/user-breakdown",
        "dashboard/users-ranking", "dashboard/api-keys-trend", "usage/stats"}
    assert all(row["rollups_p50_ms"] > 0 and row["raw_p50_ms"] > 0 for row in report["endpoints"])
