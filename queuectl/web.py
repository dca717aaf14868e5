"""`queuectl tui --web`: serve the TUI to a browser through textual-serve (the optional `web` extra).

Each browser session runs its own `python -m queuectl tui` process, spawned by textual-serve in
this process's session, with the store in its environment (QUEUECTL_DB), not on its command line
where `ps` would show a password. When the server stops (SIGTERM, SIGINT, an error) it
ends every such process: terminate, wait, kill. Workers a session started are detached (a
session of their own), so they are not session processes and keep running, as with the
terminal TUI.

Imported only by the `tui` command; textual_serve itself is imported only when serving.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import signal
import socket
import sys
import time
from urllib.parse import urlsplit

from queuectl.core.errors import InvalidInput, QueuectlError

INSTALL_HINT = "the web view needs textual-serve: pip install 'queuectl[web]'"
REMOTE_WARNING = (
    "queuectl: warning: serving on {host}, not on a loopback address: anyone who can reach port {port} "
    "controls the queue (and can run commands as {user}); there is no login"
)
END_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for session processes


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: localhost, 127.0.0.0/8, ::1."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind address unless --allow-remote was given (exit 2)."""
    if not is_loopback(host) and not allow_remote:
        raise InvalidInput(
            f"--host {host} would serve the queue beyond this machine; add --allow-remote if you mean it"
        )


def require_textual_serve() -> None:
    """Fail with a one-line hint naming the extra when textual-serve is not installed (exit 1)."""
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        raise QueuectlError(INSTALL_HINT) from None


def session_command() -> str:
    """The shell command textual-serve runs for each browser session (its store: QUEUECTL_DB)."""
    return shlex.join([sys.executable, "-m", "queuectl", "tui"])


def open_url(host: str, port: int) -> str:
    """The address to print: the bind address, or this host's name for a wildcard bind."""
    name = host.strip("[]")
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return f"http://{name}:{port}"
    if ip.is_unspecified:
        return f"http://{socket.gethostname()}:{port}"
    return f"http://[{ip}]:{port}" if ip.version == 6 else f"http://{ip}:{port}"


def shown_store(store_url: str) -> str:
    """The store URL for a log line, without a password."""
    parts = urlsplit(store_url)
    if parts.password is None:
        return store_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def session_processes() -> list:
    """Descendants of this process in this process's session: the browser sessions' `sh` and apps.

    Detached descendants (workers, started with a session of their own, and their jobs) are left out.
    """
    import psutil

    own_session = os.getsid(0)
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if os.getsid(proc.pid) == own_session:
                found.append(proc)
        except OSError:  # already gone
            continue
    return found


def end_session_processes(grace: float = END_GRACE) -> list:
    """SIGTERM every session process, SIGKILL those still alive after `grace` s; return any that survived.

    Waits by polling rather than reaping: the event loop's child watcher reaps its own children.
    """
    import psutil

    procs = session_processes()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        for proc in procs:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass
        deadline = time.monotonic() + wait
        while (procs := [p for p in procs if _alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not procs:
            break
    return procs


def _alive(proc) -> bool:
    """Running and not a zombie (a zombie has ended; its parent reaps it)."""
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _host_allowed(request_host: str | None) -> bool:
    """For a loopback bind: the Host header must name a loopback address (defeats DNS rebinding)."""
    if not request_host:
        return False
    return is_loopback(urlsplit(f"//{request_host}").hostname or "")


def _origin_allowed(origin: str | None, request_host: str | None) -> bool:
    """A browser's WebSocket must come from a page of this server (defeats cross-site WebSocket hijacking)."""
    if origin is None:  # not a browser: nothing a web page could abuse
        return True
    return urlsplit(origin).netloc.lower() == (request_host or "").lower()


def serve(store_url: str, host: str = "127.0.0.1", port: int = 8000, allow_remote: bool = False) -> None:
    """Serve the TUI on host:port until SIGTERM or SIGINT, then end every session process."""
    check_host(host, allow_remote)
    require_textual_serve()
    import asyncio
    import logging

    import click
    from aiohttp import web
    from aiohttp.web_runner import GracefulExit
    from textual_serve.server import Server

    local = is_loopback(host)
    url = open_url(host, port)
    # Sessions inherit this process's environment (textual-serve copies os.environ for each one).
    os.environ["QUEUECTL_DB"] = store_url

    class QueuectlServer(Server):
        """textual-serve's Server, plus: origin checks, a short shutdown, and no session left behind."""

        def __init__(self) -> None:
            super().__init__(session_command(), host=host, port=port, title="queuectl")
            self._sockets: set[asyncio.Task] = set()
            self._exiting = False

        def initialize_logging(self) -> None:
            super().initialize_logging()
            self.console.stderr = True  # stdout stays for the URL line
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per session instead

        def _refuse(self, request: web.Request) -> web.Response | None:
            if not local or _host_allowed(request.host):
                return None
            return web.Response(status=403, text="queuectl: open the web view at 127.0.0.1 or localhost\n")

        async def on_startup(self, app: web.Application) -> None:
            click.echo(f"queuectl web view: open {url}  (store {shown_store(store_url)}; Ctrl+C stops it)")

        async def on_shutdown(self, app: web.Application) -> None:
            for task in list(self._sockets):
                task.cancel()

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            refused = self._refuse(request)
            if refused is not None:
                return refused
            # The page's WebSocket URL follows the address the browser used (localhost, a host name, …).
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
            refused = self._refuse(request)
            if refused is not None:
                return refused
            if not _origin_allowed(request.headers.get("Origin"), request.host):
                return web.Response(status=403, text="queuectl: cross-origin WebSocket refused\n")
            task = asyncio.current_task()
            assert task is not None
            self._sockets.add(task)
            click.echo(f"session opened from {request.remote}", err=True)
            try:
                return await super().handle_websocket(request)
            finally:
                self._sockets.discard(task)
                click.echo(f"session closed from {request.remote}", err=True)

        def request_exit(self) -> None:
            if self._exiting:  # a second Ctrl-C while shutting down
                return
            self._exiting = True
            end_session_processes()
            raise GracefulExit()

        def serve(self, debug: bool = False) -> None:
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.add_signal_handler(signal.SIGINT, self.request_exit)
            loop.add_signal_handler(signal.SIGTERM, self.request_exit)
            web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False, loop=loop,
                        print=lambda *args: None, shutdown_timeout=1.0)

    if not local:
        user = os.environ.get("USER") or str(os.getuid())
        click.echo(REMOTE_WARNING.format(host=host, port=port, user=user), err=True)
    try:
        QueuectlServer().serve()
    except OSError as exc:
        raise QueuectlError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        end_session_processes()
