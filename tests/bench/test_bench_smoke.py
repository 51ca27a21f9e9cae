"""`python -m bench --quick` end to end: fake upstream, `manage.py serve`, every scenario direct and relayed.

No timing is asserted (the machine is shared); what must hold is that the harness runs, every relayed
request came back complete, and each one was charged exactly once, so the numbers it prints are "with
charging on". Embedded mode keeps it independent of PostgreSQL and Redis.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(330)
def test_quick_bench_relays_and_charges_every_request(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--mode", "embedded", "--data-dir", str(tmp_path / "data"),
         "--results-dir", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,  # generous: CI hosts are shared
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (report_file,) = results.glob("bench-*.json")
    report = json.loads(report_file.read_text())
    assert report["problems"] == []
    (mode,) = report["modes"]
    assert mode["mode"] == "embedded"
    assert set(mode["scenarios"]) == {"json_c1", "json_c32", "stream_c32", "slow_500", "bedrock_stream_c32",
                                      "gemini_stream_c32", "openai_json_c32", "openai_stream_c32"}
    for key, data in mode["scenarios"].items():
        median = data["median"]
        assert median["direct"]["errors"] == median["subrelay"]["errors"] == 0, key
        assert median["subrelay"]["requests"] == data["scenario"]["requests"], key
        assert median["cpu_ms_per_request"] is not None and median["cpu_ms_per_request"] >= 0, key
    # The streams were open at the same time through the gateway, not queued one after the other.
    slow = mode["scenarios"]["slow_500"]
    assert slow["median"]["peak_open_upstream_streams"]["subrelay"] == slow["scenario"]["concurrency"]
    # Every relayed request reached the upstream with the account's key and left one usage log row.
    assert mode["usage_logs"] == mode["completed_relayed_requests"] == mode["relayed_requests"] > 0
    assert mode["upstream_saw_relayed"] == mode["relayed_requests"]
    assert mode["peak_rss_mb"] > 0
    assert "| JSON, c=1 |" in proc.stdout and "Gateway CPU ms/req" in proc.stdout
