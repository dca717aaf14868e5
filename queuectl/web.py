"""`queuectl tui --web`: serve the TUI to a browser through textual-serve (the optional `web` extra).

Each browser session runs its own `python -m queuectl tui` process (under `sh -c`), in this
process's session but a process group of its own, with the store in its environment
(QUEUECTL_DB), not on its command line where `ps` would show a password. When the browser
leaves, that group is ended (asked to quit, then SIGTERM, then SIGKILL); when the server stops
(SIGTERM, SIGINT, an error) every session process is. Workers a session started are detached (a
session of their own), so they are not session processes and keep running, as with the
terminal TUI.

Access (Jupyter's model): the printed URL carries a random token; the first page load trades it
for a cookie. Every route (the page, /static/, downloads, the WebSocket) needs the token, by
cookie or `?token=`, and, on a loopback bind, a loopback Host; a browser request from another
site's page (Origin) is refused everywhere. Another local user who finds the port has no token.

Imported only by the `tui` command; textual_serve itself is imported only when serving.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import secrets
import shlex
import signal
import socket
import sys
import time
from urllib.parse import urlencode, urlsplit

from queuectl.core.errors import InvalidInput, QueuectlError

INSTALL_HINT = "the web view needs textual-serve: pip install 'queuectl[web]'"
REMOTE_WARNING = (
    "queuectl: warning: serving on {host}, not on a loopback address: anyone who can reach port {port} "
    "and learns the URL's token controls the queue (and can run commands as {user}); plain http "
    "carries the token unencrypted"
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


def open_url(host: str, port: int, token: str | None = None) -> str:
    """The address to print: the bind address, or this host's name for a wildcard bind; with the token."""
    name = host.strip("[]")
    query = f"/?token={token}" if token else ""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return f"http://{name}:{port}{query}"
    if ip.is_unspecified:
        return f"http://{socket.gethostname()}:{port}{query}"
    return f"http://[{ip}]:{port}{query}" if ip.version == 6 else f"http://{ip}:{port}{query}"


def new_token() -> str:
    """A random token for the URL: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_cookie(port: int) -> str:
    """The cookie's name: cookies are per host, not per port, so two servers on one host need two."""
    return f"queuectl-web-{port}"


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address of `host`, bound before anything is printed, so a busy
    port is reported at once (QueuectlError, exit 1) rather than after the URL."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise QueuectlError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(128)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise QueuectlError(f"cannot serve on {host}:{port}: {(exc.strerror or str(exc)).lower()}") from None
    return sockets


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
    import logging

    import click
    from aiohttp import web
    from aiohttp.web_runner import GracefulExit
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int

    local = is_loopback(host)
    token = new_token()
    cookie = token_cookie(port)
    url = open_url(host, port, token)
    # Sessions inherit this process's environment (textual-serve copies os.environ for each one).
    os.environ["QUEUECTL_DB"] = store_url
    log = logging.getLogger("queuectl.web")

    class Session(AppService):
        """One browser session's app, in a process group of its own, ended whole when the browser leaves."""

        async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
            self._process = process = await asyncio.create_subprocess_shell(
                self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._build_environment(width=width, height=height),
                process_group=0,
            )
            self._stdin = process.stdin
            return process

        async def end(self, grace: float = END_GRACE) -> None:
            """Ask the app to quit; whatever of its group is left after `grace` s gets SIGTERM, then SIGKILL.

            textual-serve's own stop() alone is not enough: an app whose browser left before it was
            drawn (a one-shot `chromium --screenshot` visit) ignored the quit and spun at 70-90 % CPU."""
            try:
                await asyncio.wait_for(self.stop(), grace)
            except Exception:  # timed out, or the pipes are already gone
                pass
            process = self._process
            if process is None:
                return
            if self._stdin is not None:
                self._stdin.close()  # end of input: what a closed terminal would give
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)  # the group: `sh` and the app under it
                except ProcessLookupError:
                    break
                try:
                    await asyncio.wait_for(process.wait(), grace)
                except TimeoutError:
                    continue
                if not _group_alive(process.pid):
                    break

    class QueuectlServer(Server):
        """textual-serve's Server, plus: a token and origin checks on every route, sessions that end
        when their browser leaves, a short shutdown, and no session left behind."""

        def __init__(self) -> None:
            super().__init__(session_command(), host=host, port=port, title="queuectl")
            self._sockets: set[asyncio.Task] = set()
            self._exiting = False

        def initialize_logging(self) -> None:
            super().initialize_logging()
            self.console.stderr = True  # stdout stays for the URL line
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # one line per session instead

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(self.guard)
            return app

        @web.middleware
        async def guard(self, request: web.Request, handler) -> web.StreamResponse:
            """Every route: a loopback Host (on a loopback bind), no other site's page, and the token."""
            if local and not _host_allowed(request.host):
                return web.Response(status=403, text="queuectl: open the web view at 127.0.0.1 or localhost\n")
            if not _origin_allowed(request.headers.get("Origin"), request.host):
                return web.Response(status=403, text="queuectl: request from another site refused\n")
            if token_matches(request.cookies.get(cookie), token):
                return await handler(request)
            if token_matches(request.query.get("token"), token):
                if request.path != "/":  # a script's WebSocket or fetch: no cookie needed
                    return await handler(request)
                # Trade the token for a cookie, and take it out of the address bar and history.
                query = urlencode([(k, v) for k, v in request.query.items() if k != "token"])
                response = web.Response(status=302, headers={"Location": "/" + (f"?{query}" if query else "")})
                response.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
                return response
            return web.Response(status=403, text="queuectl: this web view needs its token: open the URL "
                                                 "`queuectl tui --web` printed (…/?token=…)\n")

        async def on_startup(self, app: web.Application) -> None:
            pass  # the address was printed when the sockets began to listen; not textual-serve's banner

        async def on_shutdown(self, app: web.Application) -> None:
            for task in list(self._sockets):
                task.cancel()

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page's WebSocket URL follows the address the browser used (localhost, a host name, …).
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
            """textual-serve's session loop, with a Session that is ended whole when the browser leaves."""
            websocket = web.WebSocketResponse(heartbeat=15)
            await websocket.prepare(request)  # not a WebSocket handshake: 400, and no session
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            task = asyncio.current_task()
            assert task is not None
            self._sockets.add(task)
            session: Session | None = None
            click.echo(f"session opened from {request.remote}", err=True)
            try:
                session = Session(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                  close=websocket.close, download_manager=self.download_manager, debug=self.debug)
                await session.start(width, height)
                await self._process_messages(websocket, session)
            except asyncio.CancelledError:  # the server stops
                await websocket.close()
            except Exception as error:  # a broken message or pipe: this session ends, the server goes on
                log.warning("session error: %s", error)
            finally:
                if session is not None:
                    await asyncio.shield(session.end())
                self._sockets.discard(task)
                click.echo(f"session closed from {request.remote}", err=True)
            return websocket

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
            web.run_app(self._make_app(), sock=sockets, handle_signals=False, loop=loop,
                        print=lambda *args: None, shutdown_timeout=1.0)

    sockets = listen(host, port)
    # Printed as soon as the sockets listen (a browser's connection waits in their backlog), not
    # when the server's loop has started: a SIGTERM sent on seeing the port open must not find a
    # process that has told nobody where it is.
    click.echo(f"queuectl web view: open {url}  (store {shown_store(store_url)}; Ctrl+C stops it)")
    if not local:
        user = os.environ.get("USER") or str(os.getuid())
        click.echo(REMOTE_WARNING.format(host=host, port=port, user=user), err=True)
    try:
        QueuectlServer().serve()
    except OSError as exc:
        raise QueuectlError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        for sock in sockets:
            sock.close()
        end_session_processes()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
