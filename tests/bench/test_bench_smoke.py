"""Every benchmark script runs end to end at a tiny size, so they keep working.

No timing is asserted here (CI machines are noisy): only that each finishes and prints its figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

CASES = {
    "throughput": (["throughput.py", "--jobs", "40"], "ratio"),
    "enqueue_latency": (["enqueue_latency.py", "--runs", "2"], "queuectl enqueue"),
    "latency": (["latency.py", "--samples", "5", "--workers", "1"], "p50"),
    "claim_finish": (["claim_finish.py", "--jobs", "300", "--procs", "1", "2"], "jobs/s"),
    "worker_rss": (["worker_rss.py", "--jobs", "40"], "RSS idle"),
    "tui_million": (["tui_million.py", "--jobs", "500", "--store", "{tmp}/big"], "first screen"),
    "metrics_scrape": (["metrics_scrape.py", "--jobs", "500", "--store", "{tmp}/m", "--scrapes", "3"],
                       "scrape (--serve, reads + text)"),
    "tui_idle": (["tui_idle.py", "--jobs", "200", "--seconds", "1", "--settle", "2", "--runs", "1"], "of a core"),
    "cli_wall": (["cli_wall.py", "--runs", "1", "--bulk", "200", "--big-jobs", "500", "--big-store", "{tmp}/big2"],
                 "list --limit 50"),
    "retention": (["retention.py", "--jobs", "60", "--rounds", "2"], "each round of 60 jobs adds"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_benchmark_runs(name, tmp_path):
    argv, expected = CASES[name]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    env = dict(os.environ, QUEUECTL_HOME=str(tmp_path / "home"))
    env.pop("QUEUECTL_DB", None)
    out = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]], env=env, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expected in out.stdout, out.stdout
