"""`queuectl tui --web`: the missing-extra hint, the loopback guard, the token and origin checks on every
route, a busy port, sessions that end when their browser leaves, and a real browser (Debian's chromium
driven by Playwright) retrying a dead job through the served TUI, then a SIGTERM that must leave no
session process behind while a worker started from the page keeps running.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from proc_support import wait_until
from queuectl import web
from queuectl.core.config import ConfigStore
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import Failed
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DEAD_ID = "web-dead-1"


# ── helpers ─────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "home"
    monkeypatch.setenv("QUEUECTL_HOME", str(root))
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    monkeypatch.delenv("QUEUECTL_DEBUG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _argv_and_env(proc: psutil.Process) -> tuple[list[str], dict[str, str]]:
    try:
        return proc.cmdline(), proc.environ()
    except psutil.Error:  # exited meanwhile
        return [], {}


def gone(proc: psutil.Process) -> bool:
    """Ended (a zombie counts: nothing runs; this container's init may not reap orphans)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def running_with(marker: str) -> list[psutil.Process]:
    """Live processes whose command line or environment mentions `marker` (the test's private store path)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if marker in " ".join(proc.info["cmdline"] or ()) or any(marker in v for v in proc.environ().values()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Server:
    """`python -m queuectl tui --web` as a subprocess, its output in files; always reaped."""

    def __init__(self, tmp_path: Path, *args: str, db: str | None = None) -> None:
        self.port = free_port()
        self.out_path, self.err_path = tmp_path / "server.out", tmp_path / "server.err"
        store = ["--db", db] if db else []
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "queuectl", *store, "tui", "--web", "--port", str(self.port), *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
            )
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = ""  # the URL the server printed, with its token (wait_ready)
        self.token = ""

    @property
    def cookie(self) -> dict[str, str]:
        """The header a browser sends once the printed URL has set its cookie."""
        return {"Cookie": f"{web.token_cookie(self.port)}={self.token}"}

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 15.0) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.out} {self.err}")
            return "open http://" in self.out
        wait_until(ready, timeout, message="the server's URL line")
        self.url = self.out.split("open ", 1)[1].split()[0]
        self.token = urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query)["token"][0]

    def session_processes(self) -> list[psutil.Process]:
        """The server's live descendants (this test starts no worker from a page)."""
        try:
            return [c for c in psutil.Process(self.proc.pid).children(recursive=True) if not gone(c)]
        except psutil.NoSuchProcess:
            return []

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture
def start_server(tmp_path, home):
    servers: list[Server] = []

    def _start(*args: str, db: str | None = None) -> Server:
        server = Server(tmp_path, *args, db=db)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.close()


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# ── no browser ──────────────────────────────────────────────────────────────────────────────


def test_without_textual_serve_a_one_line_hint_names_the_extra(home):
    blocker = textwrap.dedent(
        """
        import sys
        sys.modules["textual_serve"] = None  # as if the web extra were not installed
        from queuectl.cli import main
        main(["tui", "--web", "--port", sys.argv[1]])
        """
    )
    proc = subprocess.run([sys.executable, "-c", blocker, str(free_port())], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pip install 'queuectl[web]'" in lines[0]
    assert lines[0].startswith("queuectl: error:")
    assert not home.exists(), "nothing should be created when the web view cannot start"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_a_non_loopback_host_needs_allow_remote(home, host):
    proc = subprocess.run([sys.executable, "-m", "queuectl", "tui", "--web", "--host", host, "--port", "8000"],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "--allow-remote" in lines[0] and host in lines[0]


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("example.com", False),
])
def test_what_counts_as_loopback(host, loopback):
    assert web.is_loopback(host) is loopback


def test_the_session_command_carries_no_store_url():
    """The store (maybe with a password) reaches sessions through QUEUECTL_DB, never their argv."""
    assert shlex.split(web.session_command()) == [sys.executable, "-m", "queuectl", "tui"]


def test_the_printed_store_url_hides_a_password():
    assert web.shown_store("postgresql://q:s3cret@db.example/queue") == "postgresql://q:***@db.example/queue"
    assert web.shown_store("sqlite:///tmp/q.db") == "sqlite:///tmp/q.db"


def test_session_processes_leave_detached_ones_out():
    attached = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    detached = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        pids = {p.pid for p in web.session_processes()}
        assert attached.pid in pids
        assert detached.pid not in pids
    finally:
        for proc in (attached, detached):
            proc.kill()
            proc.wait(5)


def test_allow_remote_warns_and_prints_the_url(start_server):
    server = start_server("--host", "0.0.0.0", "--allow-remote")
    server.wait_ready()
    assert "anyone who can reach port" in server.err and "controls the queue" in server.err
    assert f":{server.port}" in server.out
    server.close()
    assert server.proc.returncode == 0


UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
ROUTES = ["/", "/static/js/textual.js", "/static/", "/download/x"]


def test_foreign_hosts_and_origins_are_refused_on_every_route(start_server):
    """Even with the token: a foreign Host (DNS rebinding) or another site's page (Origin) is refused."""
    server = start_server()
    server.wait_ready()
    base, cookie = server.base, server.cookie
    assert http_status(base + "/", cookie) == 200
    assert http_status(f"http://localhost:{server.port}/", cookie) == 200
    assert http_status(base + "/static/js/textual.js", cookie) == 200
    for route in [*ROUTES, "/ws"]:
        # DNS rebinding: a foreign name that resolves to 127.0.0.1.
        assert http_status(base + route, {**cookie, "Host": f"evil.example:{server.port}"}) == 403, route
        # Cross-site requests: another site's page fetching our files or opening our socket.
        assert http_status(base + route, {**cookie, "Origin": "http://evil.example"}) == 403, route
    assert http_status(base + "/ws", {**cookie, **UPGRADE, "Origin": "http://evil.example"}) == 403
    assert "session opened" not in server.err
    server.close()
    assert server.proc.returncode == 0


def test_every_route_needs_the_token(start_server):
    """Jupyter's model: the printed URL's token, traded for an HttpOnly cookie on the first page load."""
    server = start_server()
    server.wait_ready()
    assert re.fullmatch(rf"http://127\.0\.0\.1:{server.port}/\?token=[A-Za-z0-9_-]{{43}}", server.url)
    base = server.base
    wrong = {"Cookie": f"{web.token_cookie(server.port)}={'x' * 43}"}
    for route in ROUTES:
        assert http_status(base + route) == 403, route
        assert http_status(base + route, wrong) == 403, route
        assert http_status(base + route + "?token=" + "x" * 43) == 403, route
    assert http_status(base + "/ws", UPGRADE) == 403
    assert http_status(base + "/ws?token=nope", UPGRADE) == 403
    # The printed URL: a redirect that sets the cookie and drops the token from the address bar.
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(server.url + "&fontsize=14", timeout=5)
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"] == "/?fontsize=14"
    set_cookie = redirect.value.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{web.token_cookie(server.port)}={server.token};")
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert http_status(base + "/?fontsize=14", server.cookie) == 200
    assert http_status(base + "/ws", server.cookie) == 400  # not a handshake: no session, no traceback
    assert "session opened" not in server.err and "Traceback" not in server.err and "Unhandled" not in server.err
    server.close()
    assert server.proc.returncode == 0


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_websocket_without_the_token_is_refused(start_server):
    """Another local user's plain WebSocket client (issue 13 item 9): refused without the token, no
    process started; with it (cookie or ?token=) it gets a session, which ends when the client leaves."""
    import asyncio

    import aiohttp

    server = start_server()
    server.wait_ready()
    ws_url = f"{server.base}/ws?width=100&height=30"

    async def connect(url: str, headers: dict[str, str] | None = None) -> int:
        """The handshake's status, or 101 once the app has drawn (then the client leaves)."""
        async with aiohttp.ClientSession() as client:
            try:
                async with client.ws_connect(url, headers=headers) as ws:
                    received = 0
                    while received < 1000:
                        message = await asyncio.wait_for(ws.receive(), 20)
                        assert message.type == aiohttp.WSMsgType.BINARY, message
                        received += len(message.data)
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(connect(ws_url)) == 403
    assert asyncio.run(connect(ws_url + "&token=" + "x" * 43)) == 403
    assert server.session_processes() == [] and "session opened" not in server.err
    assert asyncio.run(connect(ws_url, server.cookie)) == 101
    assert asyncio.run(connect(ws_url + "&token=" + server.token)) == 101
    assert server.err.count("session opened") == 2
    wait_until(
        lambda: server.session_processes() == [], 10, message="the sessions' processes to end once their clients left"
    )
    assert server.proc.poll() is None
    server.close()
    assert server.proc.returncode == 0


def test_a_busy_port_is_reported_before_any_url(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "queuectl", "tui", "--web", "--port", str(port)],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert proc.stdout == ""  # before: the URL was printed first, then the error
    assert proc.stderr == f"queuectl: error: cannot serve on 127.0.0.1:{port}: address already in use\n"


def test_a_session_process_that_ignores_sigterm_is_killed():
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                               "print('ready', flush=True); time.sleep(60)"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
    )
    try:
        assert stubborn.stdout.readline() == b"ready\n"
        started = time.monotonic()
        assert web.end_session_processes(grace=0.5) == []
        assert stubborn.wait(5) == -signal.SIGKILL
        assert time.monotonic() - started < 3
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait(5)


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_stopping_the_server_ends_an_open_session(start_server, how, tmp_path):
    """A session opened over the WebSocket (no browser needed); SIGTERM to the server, or SIGINT to the
    whole process group as Ctrl-C in a terminal sends it. The session's store, given by --db, reaches
    it through its environment, not its command line (where `ps` would show a password)."""
    import asyncio

    import aiohttp

    store_url = f"sqlite:///{tmp_path}/elsewhere.db"
    server = start_server(db=store_url)
    server.wait_ready()
    server_proc = psutil.Process(server.proc.pid)

    async def session() -> tuple[list[psutil.Process], float]:
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(f"{server.base}/ws?width=100&height=30&token={server.token}") as ws:
                received = 0
                while received < 1000:  # the app is drawing
                    message = await asyncio.wait_for(ws.receive(), 15)
                    assert message.type == aiohttp.WSMsgType.BINARY, message
                    received += len(message.data)
                spawned = [c for c in server_proc.children(recursive=True) if not gone(c)]
                seen = [_argv_and_env(c) for c in spawned]
                started = time.monotonic()
                if how == "sigterm":
                    server.proc.send_signal(signal.SIGTERM)
                else:
                    os.killpg(server.proc.pid, signal.SIGINT)
                while (await asyncio.wait_for(ws.receive(), 15)).type == aiohttp.WSMsgType.BINARY:
                    pass
                return spawned, seen, started

    spawned, seen, started = asyncio.run(session())
    assert spawned, "the session's app process"
    assert not [argv for argv, _ in seen if store_url in " ".join(argv)], seen
    assert any(env.get("QUEUECTL_DB") == store_url for _, env in seen), "the store in the sessions' environment"
    server.proc.wait(15)
    took = time.monotonic() - started
    assert server.proc.returncode == 0, server.err
    assert not [p for p in spawned if not gone(p)]
    assert took < 8, f"stopping took {took:.1f}s"
    assert "session opened" in server.err and "session closed" in server.err


# ── the browser ─────────────────────────────────────────────────────────────────────────────


def seed_dead_job() -> str:
    store = open_store()
    try:
        queue = JobQueue(store)
        settings = ConfigStore(store).settings()
        queue.enqueue([JobSpec(command="exit 1", id=DEAD_ID, max_retries=0)], settings)
        claimed = queue.claim("w-seed")
        assert claimed is not None and claimed.id == DEAD_ID
        result = queue.finish(claimed, "w-seed", RunStart("seed-host", None, None, time.time()), Failed(1, None),
                              settings, output=b"boom\n", output_bytes=5)
        assert result.state == "dead"
        return store.path
    finally:
        store.close()


def job_state(job_id: str) -> str:
    store = open_store()
    try:
        return str(JobQueue(store).get(job_id).state)
    finally:
        store.close()


def live_workers() -> list:
    from queuectl.core.registry import WorkerRegistry

    store = open_store()
    try:
        return WorkerRegistry(store).live()
    finally:
        store.close()


def open_app(page, server: Server) -> list[psutil.Process]:
    """Open the printed URL in `page`, start the app, wait until it draws; the session's processes."""
    page.goto(server.url)
    size = page.viewport_size
    page.mouse.click(size["width"] / 2, size["height"] / 2)  # the start dialog
    # The first bytes from the app reveal the terminal (a canvas: no page text to assert on).
    page.wait_for_function("document.body.classList.contains('-first-byte')", timeout=20_000)
    return wait_until(server.session_processes, 10, message="the session's app process")


def test_a_browser_retries_a_dead_job_and_sigterm_ends_every_session(start_server, home, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright  # the test extra installs it

    db_path = str(seed_dead_job())
    server = start_server()
    server.wait_ready()
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")
    server_proc = psutil.Process(server.proc.pid)
    worker_pids: list[int] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 720})
                sessions = open_app(page, server)
                page.focus(".xterm-helper-textarea")  # keys go to xterm.js's input, not the page
                wait_until(lambda: "session opened" in server.err, 5, message="the session to open")
                # F2 shows the DLQ tab, its cursor on the dead job; r retries it. Pressed again until the
                # store says so, in case the app's first poll had not filled the table yet.
                deadline = time.monotonic() + 20
                while job_state(DEAD_ID) != "pending":
                    assert time.monotonic() < deadline, f"{DEAD_ID} was not retried through the page"
                    page.keyboard.press("F2")
                    time.sleep(0.7)
                    page.screenshot(path=str(tmp_path / "web-dlq.png"))
                    page.keyboard.press("r")
                    try:
                        wait_until(lambda: job_state(DEAD_ID) == "pending", 3, message="the retry")
                    except AssertionError:
                        continue
                time.sleep(1.2)  # the next poll shows it
                shot = tmp_path / "web.png"
                page.screenshot(path=str(shot))
                print(f"\nweb view screenshot: {shot}")

                # A worker started from the page is detached: it must outlive the server.
                page.keyboard.press("F3")
                time.sleep(0.5)
                page.keyboard.press("+")
                time.sleep(0.7)
                page.keyboard.press("Enter")
                workers = wait_until(live_workers, 20, message="the worker started from the page")
                worker_pids = [w.pid for w in workers]
                time.sleep(0.5)
                page.screenshot(path=str(tmp_path / "web-workers.png"))

                # the worker and its watchdog (a child of it) belong to the worker, not to a session
                worker_family = set(worker_pids) | {
                    c.pid for pid in worker_pids for c in psutil.Process(pid).children(recursive=True)}
                spawned = [c for c in server_proc.children(recursive=True) if c.pid not in worker_family]
                assert spawned and {s.pid for s in sessions} <= {s.pid for s in spawned}
                assert running_with(db_path), "the session runs with the store URL in its environment"

                server.proc.send_signal(signal.SIGTERM)
                server.proc.wait(15)
            finally:
                browser.close()
        assert server.proc.returncode == 0, server.err
        survivors = [p for p in spawned if not gone(p)]
        assert not survivors, f"session processes left running: {survivors}"
        leftovers = [p for p in running_with(db_path) if p.pid not in worker_family]
        assert not leftovers, f"processes on the test store left running: {leftovers}"
        assert worker_pids and all(not gone(psutil.Process(pid)) for pid in worker_pids), \
            "the detached worker should keep running"
        assert "session opened" in server.err
    finally:
        _stop_workers(worker_pids)


@pytest.mark.parametrize("how", ["one-shot-screenshot", "closed-tab"])
def test_a_browser_that_leaves_ends_its_session(start_server, tmp_path, how):
    """Issue 11 §6: a session whose browser left must not run (and spin) until the server stops. Before,
    a one-shot `chromium --headless --screenshot` visit left its app at 70-90 % CPU."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    server = start_server()
    server.wait_ready()
    if how == "one-shot-screenshot":
        shot = tmp_path / "one-shot.png"
        subprocess.run([CHROMIUM, "--headless", *CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'profile'}",
                        f"--screenshot={shot}", "--window-size=1280,800", server.url],
                       capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
        assert shot.exists()
        wait_until(lambda: "session opened" in server.err, 10, message="the visit to open a session")
    else:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 600})
                open_app(page, server)
                page.close()  # the tab closes; the browser stays
                wait_until(
                    lambda: server.session_processes() == [], 10, message="the session to end after its tab closed"
                )
            finally:
                browser.close()
    wait_until(
        lambda: server.session_processes() == [], 10, message="no session process left 10 s after the browser left"
    )
    assert server.proc.poll() is None, "the server keeps running"
    assert http_status(server.base + "/", server.cookie) == 200
    wait_until(lambda: "session closed" in server.err, 10, message="the server to log the session's end")
    server.close()
    assert server.proc.returncode == 0


def _stop_workers(pids: list[int]) -> None:
    from queuectl.core.supervisor import stop_workers

    if pids:
        store = open_store()
        try:
            stop_workers(store, wait=True, timeout=5)
        finally:
            store.close()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if not gone(proc):
                proc.kill()
                wait_until(lambda: gone(proc), 5, message=f"worker {pid} to end")
        except psutil.NoSuchProcess:
            pass
