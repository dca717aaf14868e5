"""The Dockerfile, built and run with a real container engine (podman with runc, as .ci/run installs it).

The base image is made from Debian packages (mmdebstrap from this machine's Debian mirror, then
`podman import`): no registry can be pulled from here. Its tarball is kept under /var/tmp between
runs; a fresh machine makes it (~30 s). queuectl's wheels are built on the host and are the build's
input (pip cannot reach an index inside the build). Then two worker containers share one named
volume (SQLite), a third container enqueues 20 jobs, each runs once; `podman stop` (SIGTERM) lets
a running job finish and the container exit 0; `podman kill -s KILL` loses a job, which the other
worker container recovers after worker_timeout (another container is another pid namespace and
hostname: it cannot see the dead worker's pid, only its silence). Last, the image runs a job on
PostgreSQL (QUEUECTL_DB).

Podman missing is a failure, never a skip: the test is the only check that the image works.
Every container, volume and image the test made is removed at teardown.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from proc_support import wait_until

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/queuectl-base:bookworm"
BASE_CACHE = Path("/var/tmp/queuectl-ci/base-bookworm.tar")
SUITE = "bookworm"


def mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 .sources first, then a one-line list)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        text = path.read_text()
        for stanza in text.split("\n\n"):
            if re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M) and "debian-security" not in stanza:
                uri = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if uri:
                    return uri.group(1)
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                    return parts[1]
    return "http://deb.debian.org/debian"


class Podman:
    """podman with runc (crun fails on this kernel's hybrid cgroups); what it made, to remove."""

    def __init__(self) -> None:
        self.exe = shutil.which("podman")
        assert self.exe, "podman is not installed (.ci/run installs it: apt-get install podman runc)"
        self.token = uuid.uuid4().hex[:10]
        self.image = f"localhost/queuectl-test:{self.token}"
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def __call__(self, *args: str, check: bool = True, input: str | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.exe, "--runtime", "runc", *args], input=input, capture_output=True, text=True,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
        return proc

    def base_image(self) -> None:
        if self("image", "exists", BASE_IMAGE, check=False).returncode == 0:
            return
        if not BASE_CACHE.exists():
            mmdebstrap = shutil.which("mmdebstrap")
            assert mmdebstrap, "mmdebstrap is not installed (.ci/run installs it)"
            BASE_CACHE.parent.mkdir(parents=True, exist_ok=True)
            part = BASE_CACHE.with_suffix(".part")
            subprocess.run(
                [mmdebstrap, "--quiet", "--format=tar", "--variant=minbase",
                 "--include=python3,python3-venv,ca-certificates", SUITE, str(part), mirror()],
                check=True, capture_output=True, timeout=600,
            )
            part.rename(BASE_CACHE)
        self("import", str(BASE_CACHE), BASE_IMAGE, timeout=300)

    def build(self, context: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(context / "wheels"),
             f"{ROOT}[postgres,metrics]"],
            check=True, capture_output=True, timeout=600,
        )
        shutil.copy(ROOT / "Dockerfile", context / "Dockerfile")
        shutil.copy(ROOT / ".dockerignore", context / ".dockerignore")
        # docker format: the OCI image format has no HEALTHCHECK
        self("build", "--quiet", "--layers=false", "--format", "docker", "--network", "host",
             "--build-arg", f"BASE={BASE_IMAGE}", "-t", self.image, str(context), timeout=600)

    def volume(self) -> str:
        name = f"queuectl-test-{self.token}-{len(self.volumes)}"
        self("volume", "create", name)
        self.volumes.append(name)
        return name

    def cli(self, volume: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """queuectl ARGS in a container of its own (removed when it exits) on `volume`."""
        return self("run", "--rm", *(["-i"] if input is not None else []), "-v", f"{volume}:/data", self.image,
                    *args, input=input)

    def start_worker(self, volume: str) -> str:
        name = f"queuectl-test-{self.token}-w{len(self.containers)}"
        self.containers.append(name)
        self("run", "-d", "--init", "--name", name, "-v", f"{volume}:/data", self.image)
        return name

    def inspect(self, container: str, fmt: str) -> str:
        return self("inspect", "--format", fmt, container).stdout.strip()

    def cleanup(self) -> list[str]:
        problems = []
        for name in self.containers:
            self("rm", "--force", "--time", "0", name, check=False)
        for name in self.volumes:
            self("volume", "rm", "--force", name, check=False)
        self("rmi", "--force", self.image, check=False)
        for kind, names in (("container", self.containers), ("volume", self.volumes)):
            for name in names:
                if self(kind, "exists", name, check=False).returncode == 0:
                    problems.append(f"{kind} {name}")
        if self("image", "exists", self.image, check=False).returncode == 0:
            problems.append(f"image {self.image}")
        return problems


@pytest.fixture(scope="module")
def podman(tmp_path_factory) -> Iterator[Podman]:
    engine = Podman()
    try:
        engine.base_image()
        engine.build(tmp_path_factory.mktemp("image"))
        yield engine
    finally:
        left = engine.cleanup()
        assert not left, f"left behind: {left}"


class Store:
    """The volume's SQLite file, read from the host (read-only) while the containers write it."""

    def __init__(self, mountpoint: Path) -> None:
        self.path = mountpoint / "queue.db"

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def state(self, job_id: str) -> str | None:
        rows = self.rows("SELECT state FROM job WHERE id = ?", (job_id,))
        return rows[0][0] if rows else None

    def runs(self, job_id: str) -> list[tuple]:
        return self.rows("SELECT number, host, exit_code, error, finished_at FROM run WHERE job_id = ? "
                         "ORDER BY number", (job_id,))

    def running_host(self, job_id: str) -> str | None:
        rows = self.rows("SELECT r.host FROM job j JOIN run r ON r.job_id = j.id AND r.finished_at IS NULL "
                         "WHERE j.id = ? AND j.state = 'processing' AND r.pid IS NOT NULL", (job_id,))
        return rows[0][0] if rows else None


def test_worker_containers_share_a_volume_stop_gracefully_and_recover_a_killed_one(podman, pg_url_own):
    volume = podman.volume()
    podman.cli(volume, "config", "set", "worker_timeout", "3")
    podman.cli(volume, "config", "set", "poll_interval", "0.2")
    store = Store(Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip()))

    workers = [podman.start_worker(volume) for _ in range(2)]
    hostname = {podman.inspect(w, "{{.Config.Hostname}}"): w for w in workers}
    wait_until(lambda: len(store.rows("SELECT id FROM worker WHERE state = 'running'")) == 2, timeout=30,
               message="two worker containers registered")
    for worker in workers:  # the image's HEALTHCHECK (queuectl health) passes
        assert podman("healthcheck", "run", worker, check=False).returncode == 0

    # 20 jobs from a third container; each runs exactly once
    jobs = [{"id": f"c{i:02d}", "command": "echo $QUEUECTL_JOB_ID >> /data/ran.log; sleep 0.2"} for i in range(20)]
    out = podman.cli(volume, "enqueue", "-", input="".join(json.dumps(j) + "\n" for j in jobs)).stdout.split()
    assert out == [j["id"] for j in jobs]
    wait_until(lambda: store.rows("SELECT count(*) FROM job WHERE state = 'completed'")[0][0] == 20, timeout=60,
               message="20 jobs completed")
    ran = Counter((store.path.parent / "ran.log").read_text().split())
    assert ran == Counter({j["id"]: 1 for j in jobs})
    runs = store.rows("SELECT job_id, host, exit_code, error FROM run")
    assert sorted(r[0] for r in runs) == [j["id"] for j in jobs]
    assert {(r[2], r[3]) for r in runs} == {(0, None)}
    assert {r[1] for r in runs} == set(hostname), "both worker containers ran jobs"
    listed = json.loads(podman.cli(volume, "list", "--limit", "100", "--json").stdout)
    assert Counter(j["state"] for j in listed) == {"completed": 20}

    # podman stop = SIGTERM: the running job finishes, then the worker exits 0
    podman.cli(volume, "enqueue", "--id", "stop-me", "sleep 3; echo done")
    host = wait_until(lambda: store.running_host("stop-me"), timeout=30, message="stop-me running")
    stopped = hostname[host]
    asked = time.time()
    podman("stop", "--time", "60", stopped, timeout=90)
    assert podman.inspect(stopped, "{{.State.ExitCode}}") == "0"
    assert store.state("stop-me") == "completed"
    [(number, run_host, code, error, finished_at)] = store.runs("stop-me")
    assert (run_host, code, error) == (host, 0, None)
    assert finished_at > asked, "the job finished after the stop was asked, not killed by it"
    assert podman.cli(volume, "logs", "stop-me").stdout == "done\n"
    assert [r[0] for r in store.rows("SELECT state FROM worker WHERE host = ?", (host,))] == ["stopped"]

    # podman kill -s KILL: the job's run is lost; a worker in another container recovers it
    third = podman.start_worker(volume)
    hostname[podman.inspect(third, "{{.Config.Hostname}}")] = third
    wait_until(lambda: len(store.rows("SELECT id FROM worker WHERE state = 'running'")) == 2, timeout=30,
               message="two live workers again")
    podman.cli(volume, "enqueue", "--id", "kill-me", "sleep 4; echo survived")
    host = wait_until(lambda: store.running_host("kill-me"), timeout=30, message="kill-me running")
    podman("kill", "--signal", "KILL", hostname[host])
    wait_until(lambda: store.state("kill-me") == "completed", timeout=60, message="kill-me recovered")
    runs = store.runs("kill-me")
    assert [(r[1], r[3]) for r in runs[:1]] == [(host, "worker lost")]
    assert len(runs) == 2 and runs[1][1] != host and runs[1][1] in hostname and runs[1][2] == 0
    assert podman.cli(volume, "logs", "kill-me").stdout == "survived\n"
    assert podman.inspect(hostname[host], "{{.State.ExitCode}}") == "137"

    # (one test, not two: xdist would build the image once per worker that ran one)
    check_the_image_on_postgresql(podman, pg_url_own)


def check_the_image_on_postgresql(podman: Podman, pg_url: str) -> None:
    """The image's psycopg2 (postgres extra) reaches a PostgreSQL store through QUEUECTL_DB."""
    def cli(*args: str) -> subprocess.CompletedProcess:
        return podman("run", "--rm", "--network", "host", "-e", f"QUEUECTL_DB={pg_url}", podman.image, *args)

    assert json.loads(cli("health", "--json").stdout)["ok"] is True
    cli("enqueue", "--id", "pg-1", "echo from a container")
    cli("worker", "run", "--burst")
    job = json.loads(cli("show", "pg-1", "--json").stdout)
    assert (job["state"], job["attempts"]) == ("completed", 1)
    assert cli("logs", "pg-1").stdout == "from a container\n"
