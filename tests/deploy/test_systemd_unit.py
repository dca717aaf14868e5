"""The systemd unit in deploy/ is valid (systemd-analyze verify) and stops workers gracefully."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "queuectl-worker@.service"


def test_unit_stops_with_sigterm_and_restarts_on_failure():
    text = UNIT.read_text()
    for line in ("KillSignal=SIGTERM", "Restart=on-failure", "ExecStart=/usr/local/bin/queuectl worker run"):
        assert line in text
    timeout = int(next(line for line in text.splitlines() if line.startswith("TimeoutStopSec=")).split("=")[1])
    assert timeout >= 60, "a graceful stop must leave a running job time to finish"


def test_systemd_analyze_verifies_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is part of this machine's image"
    unit = tmp_path / "queuectl-worker@1.service"
    # point ExecStart at this interpreter and run as root: the unit's own paths need not exist here
    unit.write_text(UNIT.read_text()
                    .replace("/usr/local/bin/queuectl", f"{sys.executable} -m queuectl")
                    .replace("User=queuectl", "User=root"))
    out = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "queuectl-worker" not in out.stderr, out.stderr
