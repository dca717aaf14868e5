"""Connect to the store (SQLite by default, PostgreSQL by URL) and run write transactions on it;
`store.open_store` connects through here, then migrates.

Everything backend-specific about connections lives here: pragmas, placeholders, how a write
transaction takes its lock, the driver's errors. The rest of the core asks the `Store` instead of
knowing the backend. A thin layer of its own over sqlite3 and psycopg2, not Peewee's: Peewee (and
the stdlib it pulls in) cost a `queuectl enqueue` about a third of its start-up, and only the
model-bound reads of `queue.py` use it (`Store.db`, `orm.py`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from queuectl.core.errors import InvalidInput, StoreUnavailable

if TYPE_CHECKING:
    import peewee

# `:name`, not a PostgreSQL cast (`x::int`) nor a time in a literal ('12:30' has a digit first); a
# pattern string, compiled (and cached by `re`) on PostgreSQL only
_NAMED_PARAMETER = r"(?<![:\w]):([A-Za-z_]\w*)"
# A writer waits this long for the lock before giving up; CLI commands then exit 1 with a message,
# workers log and retry.
BUSY_TIMEOUT_S = 10.0
_LOCK_STEP_S = 250e-6  # the first wait for SQLite's write lock; doubled up to
_LOCK_STEP_MAX_S = 0.002


# ── errors ────────────────────────────────────────────────────────────────────────────────────
# The drivers' errors, raised as one family whatever the backend (the DB-API's classes, by the
# names Peewee gave them), so the core catches a store error without importing psycopg2. The
# driver's own error is the `__cause__` (and `orig`): its pgcode, its message.


class DatabaseError(Exception):
    """A store error the driver raised (locked, corrupt, unreachable, a constraint…)."""

    def __init__(self, orig: BaseException, *args: object) -> None:
        super().__init__(*args)
        self.orig = orig


class DataError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class InterfaceError(DatabaseError):
    pass


_MAPPED: dict[str, type[DatabaseError]] = {
    "DatabaseError": DatabaseError, "DataError": DataError, "IntegrityError": IntegrityError,
    "InterfaceError": InterfaceError, "InternalError": InternalError, "NotSupportedError": NotSupportedError,
    "OperationalError": OperationalError, "ProgrammingError": ProgrammingError,
}


def _mapped(exc: BaseException) -> DatabaseError | None:
    """Our class for a driver error (psycopg2's subclasses, e.g. UniqueViolation, by their DB-API base)."""
    for cls in type(exc).__mro__:
        mapped = _MAPPED.get(cls.__name__)
        if mapped is not None and cls.__module__.split(".")[0] in ("sqlite3", "psycopg2"):
            return mapped(exc, *exc.args)
    return None


def _reraise(exc: Exception) -> NoReturn:
    """Raise `exc` again, as this module's error if it is a driver's (the driver's as its cause)."""
    if not isinstance(exc, DatabaseError):
        mapped = _mapped(exc)
        if mapped is not None:
            raise mapped from exc
    raise exc


@contextmanager
def driver_errors() -> Iterator[None]:
    """Raise a driver error met inside as this module's (`DatabaseError` and its subclasses)."""
    try:
        yield
    except Exception as exc:
        _reraise(exc)


def store_errors() -> tuple[type[BaseException], ...]:
    """What a broken store raises: our family; sqlite3's own from a fetch (SQLite reads a row as
    it is fetched, outside `execute`), and psycopg2's once it is loaded."""
    import sys

    psycopg2 = sys.modules.get("psycopg2")
    driver = (psycopg2.Error,) if psycopg2 is not None else ()
    return (DatabaseError, sqlite3.Error, *driver)


class _Local(threading.local):
    """One connection per thread (the TUI reads from thread workers), and its write nesting."""

    conn: Any = None
    depth = 0
    lock_ms = 0  # SQLite: this connection's busy timeout, which `_begin_immediate` puts back


class Store:
    """An open store: a connection per thread, and what the core needs to know about its backend."""

    def __init__(self, url: str, backend: str, connect_params: dict[str, Any], path: Path | None = None,
                 busy_timeout: float = BUSY_TIMEOUT_S, inode: int | None = None,
                 pragmas: Sequence[tuple[str, object]] = ()) -> None:
        self.url = url
        self.backend = backend  # "sqlite" or "postgresql"
        self.path = path
        self.busy_timeout = busy_timeout
        self.inode = inode
        self.call_timeout: float | None = None  # set by bound_calls (workers)
        self.connect_params = connect_params
        self._pragmas = list(pragmas)
        self._local = _Local()
        self._peewee: peewee.Database | None = None

    # ── connections ──────────────────────────────────────────────────────────────────────────

    def connection(self) -> Any:
        """This thread's connection, opened on first use (and again after `close`)."""
        conn = self._local.conn
        if conn is None:
            with driver_errors():
                conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> Any:
        if self.is_sqlite:
            # isolation_level None: autocommit, and transactions are our BEGIN … COMMIT (`write`)
            conn = sqlite3.connect(str(self.path), isolation_level=None, **self.connect_params)
            try:
                for name, value in self._pragmas:
                    conn.execute(f"PRAGMA {name} = {value}")
            except BaseException:
                conn.close()
                raise
            self._local.lock_ms = int(self.busy_timeout * 1000)
            return conn
        import psycopg2

        conn = psycopg2.connect(**self.connect_params)
        conn.autocommit = True  # transactions are our BEGIN … COMMIT (`write`), as on SQLite
        return conn

    def is_closed(self) -> bool:
        """True when this thread holds no open connection."""
        return self._local.conn is None

    def in_transaction(self) -> bool:
        return self._local.depth > 0

    def close(self) -> None:
        """Close this thread's connection (others' are closed by their threads, or at exit)."""
        conn = self._local.conn
        if conn is None:
            return
        if self._local.depth:
            raise OperationalError(RuntimeError(), "Attempting to close the store while a transaction is open.")
        self._local.conn = None
        with driver_errors():
            conn.close()

    @property
    def db(self) -> peewee.Database:
        """A Peewee database over this store's connections, for the model-bound reads (`models.py`);
        imports Peewee, so only the commands that read through the models pay for it."""
        if self._peewee is None:
            from queuectl.core.orm import store_database

            self._peewee = store_database(self)
        return self._peewee

    def bound_calls(self, seconds: float) -> None:
        """Make every store call of this process give up after about `seconds` (a worker: less
        than its fencing interval, so a blocked call never keeps it from fencing itself).

        SQLite: the busy timeout. PostgreSQL: lock_timeout and statement_timeout on the server,
        and on the client a deadline on every wait for the server (connect included), which is
        what ends a call when the link is cut or the server hangs: no reply ever comes, and TCP
        keepalives or tcp_user_timeout see nothing wrong as long as the peer's kernel answers.
        """
        self.call_timeout = seconds
        ms = max(1, int(seconds * 1000))
        lock_ms = max(1, int(min(self.busy_timeout, seconds) * 1000))
        if self.is_sqlite:
            self.execute(f"PRAGMA busy_timeout = {lock_ms}")
            self._local.lock_ms = lock_ms
            return
        options = re.sub(r"\s*-c (lock_timeout|statement_timeout)=\d+", "", self.connect_params.get("options", ""))
        self.connect_params["options"] = f"{options} -c lock_timeout={lock_ms} -c statement_timeout={ms}".strip()
        _client_deadline.seconds = seconds + 0.5  # the server's own timeouts answer first when it can
        _install_wait_callback()
        if not self.is_closed() and not self.in_transaction():
            self.execute(f"SET lock_timeout = {lock_ms}; SET statement_timeout = {ms}")

    def replaced_or_deleted(self) -> bool:
        """True when this SQLite file was deleted or replaced since it was opened (its writes go nowhere)."""
        if self.path is None or self.inode is None:
            return False
        try:
            return self.path.stat().st_ino != self.inode
        except OSError:
            return True

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    # ── statements ───────────────────────────────────────────────────────────────────────────

    def sql(self, text: str) -> str:
        """Adapt SQL written with `?` placeholders to this backend."""
        return text if self.is_sqlite else text.replace("?", "%s")

    def named(self, text: str) -> str:
        """Adapt SQL written with `:name` parameters (passed as a mapping) to this backend: SQLite reads
        them as they are, psycopg2 as `%(name)s`. For the long statements, where counting `?`s is a trap."""
        return text if self.is_sqlite else re.sub(_NAMED_PARAMETER, r"%(\1)s", text)

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """Run one statement written with `?` (or `:name`) placeholders; returns the driver's cursor."""
        return self.execute_native(self.sql(sql), params)

    def execute_native(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """Run one statement in the driver's own placeholders (`%s` on PostgreSQL: Peewee's SQL)."""
        # `driver_errors()` spelled out: this runs for every statement, five times per job in a
        # worker, and a generator-based context manager costs more than the rest of this method
        try:
            cursor = self.connection().cursor()
            cursor.execute(sql, params)
        except Exception as exc:
            _reraise(exc)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """`cursor.executemany`, its driver errors raised as this module's, as `execute` does."""
        with driver_errors():
            self.connection().cursor().executemany(self.sql(sql), rows)

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction that takes the write lock up front (IMMEDIATE on SQLite); nested, a
        savepoint.

        A deferred read-then-write transaction fails with "database is locked" under contention
        instead of waiting for busy_timeout; taking the lock first makes it wait.
        """
        local = self._local
        if local.depth:
            yield from self._savepoint()
            return
        if self.is_sqlite:
            self._begin_immediate()
        else:
            self.execute_native("BEGIN")
        local.depth = 1
        try:
            yield
        except BaseException:
            local.depth = 0
            try:
                self.execute_native("ROLLBACK")
            except DatabaseError as rollback_error:
                # SQLite rolls back by itself on some errors (disk full, I/O): the failed ROLLBACK
                # after that must not hide the error that caused it.
                if "no transaction is active" not in str(rollback_error):
                    raise
            raise
        local.depth = 0
        try:
            self.execute_native("COMMIT")
        except DatabaseError:
            try:
                self.execute_native("ROLLBACK")
            except DatabaseError as rollback_error:
                if "no transaction is active" not in str(rollback_error):
                    raise
            raise

    def _begin_immediate(self) -> None:
        """BEGIN IMMEDIATE, waiting for another connection's write lock in steps of 0.25 ms and up.

        SQLite's own busy handler sleeps 1 ms at the first retry, then 2, 5, 10 ms…, while a
        worker's transaction holds the lock for about 0.15 ms: two workers on one store lost
        much of their time asleep beside a free lock. Finer steps than 0.25 ms made processes
        that write back to back hand the lock over so often that they did less in all
        (bench/claim_finish.py). The wait still ends, as before, after the connection's busy
        timeout (this thread's, which `bound_calls` may have shortened)."""
        local = self._local
        conn = self.connection()
        deadline: float | None = None
        step = _LOCK_STEP_S
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                while True:
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                        return
                    except sqlite3.OperationalError as exc:
                        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                            raise
                        now = time.monotonic()
                        if deadline is None:
                            deadline = now + local.lock_ms / 1000
                        if now >= deadline:
                            raise
                        time.sleep(min(step, deadline - now))
                        step = min(step * 2, _LOCK_STEP_MAX_S)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {local.lock_ms}")
        except Exception as exc:
            _reraise(exc)

    def _savepoint(self) -> Iterator[None]:
        local = self._local
        name = f"s{local.depth}"
        self.execute_native(f"SAVEPOINT {name}")
        local.depth += 1
        try:
            yield
        except BaseException:
            local.depth -= 1
            self.execute_native(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        local.depth -= 1
        try:
            self.execute_native(f"RELEASE SAVEPOINT {name}")
        except DatabaseError:
            self.execute_native(f"ROLLBACK TO SAVEPOINT {name}")
            raise

    def reclaim_space(self, step_pages: int = 2048) -> int:
        """SQLite: give the pages on the free list back to the filesystem, `step_pages` (8 MiB) per
        write transaction so other writers wait at most one step; then checkpoint and truncate the
        WAL. Returns the pages given back (0 on PostgreSQL, whose autovacuum does this)."""
        if not self.is_sqlite or self.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return 0
        freed = 0
        while True:
            free = self.execute("PRAGMA freelist_count").fetchone()[0]
            if not free:
                break
            # executescript steps the pragma to its end: execute() steps a statement that returns
            # no columns once, which frees one page
            with driver_errors():
                self.connection().executescript(f"PRAGMA incremental_vacuum({min(free, step_pages)})")
            left = self.execute("PRAGMA freelist_count").fetchone()[0]
            if left >= free:  # nothing moved (a reader holds the pages): try again next time
                break
            freed += free - left
        if freed:
            self.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return freed


def parse_url(url: str) -> tuple[str, Path | None]:
    """The backend named by a store URL, and for SQLite its file."""
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///"):].lstrip("/")
        if not rest:
            raise InvalidInput(f"invalid store URL '{url}': no path")
        return "sqlite", Path("/" + rest)
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql", None
    if "://" not in url and url.strip():
        # a bare file path, as other queuectl versions take it: a SQLite store (relative to the cwd)
        return "sqlite", Path(os.path.abspath(os.path.expanduser(url)))
    raise InvalidInput(
        f"invalid store URL '{url}' (expected sqlite:///path/queue.db or postgresql://user@host/db)"
    )


def _create_private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does; its WAL and SHM files copy the mode.
    O_EXCL | O_NOFOLLOW: a symlink planted at the path is never followed to create a file elsewhere."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    except FileExistsError:
        pass  # another process created it first: checked again by the caller
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the store at {path}: {exc.strerror}") from None


def _check_sqlite_path(path: Path) -> None:
    """The store's folder must exist (a mistyped path is refused, never created) and be private
    (`paths.check_private_dir`); the store file must not be a symbolic link (never followed)."""
    from queuectl.core.paths import check_private_dir

    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise StoreUnavailable(
            f"the store's folder {folder} {what} (store {path}); check the path, or create the folder"
        )
    check_private_dir(folder, "the store's folder")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreUnavailable(f"cannot use the store {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise StoreUnavailable(f"the store {path} is a symbolic link; refusing to follow it (give the real path)")
    if stat.S_ISDIR(st.st_mode):
        raise StoreUnavailable(f"the store path {path} is a directory")


def _open_sqlite(url: str, path: Path, durable: bool, busy_timeout: float) -> Store:
    _check_sqlite_path(path)
    new = not path.exists() or path.stat().st_size == 0
    if not path.exists():
        _create_private_file(path)
        _check_sqlite_path(path)
    # Pages freed by purge go back to the filesystem (reclaim_space), not only to a free list:
    # set on a new store only, before its first table (on an existing one the pragma takes a write
    # lock at every connect; an older store keeps NONE until a full VACUUM, which takes it).
    first: dict[str, object] = {"auto_vacuum": "incremental"} if new else {}
    pragmas = [
        *first.items(),
        ("journal_mode", "wal"),
        ("foreign_keys", 1),
        # FULL fsyncs the WAL at every commit: an acknowledged enqueue survives a power cut.
        # Workers use NORMAL: a lost claim or finish after a power cut means a run repeats,
        # which at-least-once already allows.
        ("synchronous", "full" if durable else "normal"),
        ("busy_timeout", int(busy_timeout * 1000)),
        # Checkpoint less often than every 1000 pages: each write transaction of the hot
        # path dirties several index pages, and checkpoints run inside a committer's lock.
        ("wal_autocheckpoint", 10000),
        # …and a checkpoint truncates a WAL that a burst made bigger than this
        ("journal_size_limit", 64 * 1024 * 1024),
    ]
    store = Store(url, "sqlite", {"timeout": busy_timeout}, path=path, busy_timeout=busy_timeout,
                  inode=path.stat().st_ino, pragmas=pragmas)
    try:
        store.connection()
    except (DatabaseError, sqlite3.DatabaseError) as exc:
        raise StoreUnavailable(describe_db_error(exc, store)) from None
    return store


def _open_postgresql(url: str, durable: bool, busy_timeout: float) -> Store:
    try:
        import psycopg2  # noqa: F401  (imported here so that a missing driver is said as such)
    except ImportError:
        raise StoreUnavailable(
            "a PostgreSQL store needs the postgres extra: pip install 'queuectl[postgres]'"
        ) from None
    dsn = "postgresql://" + url.split("://", 1)[1]
    params = dict(
        dsn=dsn, connect_timeout=5,
        # A dead peer or a cut link is noticed by TCP, not only when a call is abandoned: probes
        # after 5 s idle, and unacknowledged data gives up after 10 s.
        keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3, tcp_user_timeout=10000,
        # a statement waiting on a lock gives up like SQLite's busy timeout does
        # Workers commit without waiting for the WAL flush, as on SQLite (synchronous=NORMAL): a
        # crash of the server can lose a claim or a finish, and the run repeats (at least once).
        options=f"-c lock_timeout={int(busy_timeout * 1000)}" + ("" if durable else " -c synchronous_commit=off"),
    )
    store = Store(url, "postgresql", params, busy_timeout=busy_timeout)
    try:
        store.connection()
    except DatabaseError as exc:
        raise StoreUnavailable(f"cannot reach the store {redact(url)}: {_first_line(exc)}") from None
    return store


class _ClientDeadline:
    seconds: float | None = None


_client_deadline = _ClientDeadline()
_wait_installed = False


def _install_wait_callback() -> None:
    """psycopg2 waits for the server through this callback (its "green" mode) from now on, in this
    whole process: the only way to put a deadline on a call on the client side."""
    global _wait_installed
    if _wait_installed:
        return
    import psycopg2.extensions

    psycopg2.extensions.set_wait_callback(_wait_with_deadline)
    _wait_installed = True


def _wait_with_deadline(conn: Any) -> None:
    import select
    import time

    import psycopg2
    import psycopg2.extensions as ext

    limit = _client_deadline.seconds
    deadline = None if limit is None else time.monotonic() + limit
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            # the connection is left mid-call: closing it is the caller's job (workers reconnect)
            raise psycopg2.OperationalError(f"no answer from the store within {limit:.1f}s (link cut or server hung)")
        if state == ext.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        elif state == ext.POLL_WRITE:
            select.select([], [conn.fileno()], [], remaining)
        else:  # pragma: no cover - psycopg2 documents no other state
            raise psycopg2.OperationalError(f"bad poll state {state}")


def redact(url: str) -> str:
    """The URL with any password (user:password@ or ?password=) replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", rest)
    if "@" not in rest.split("/", 1)[0]:
        return f"{scheme}://{rest}"
    creds, _, host = rest.partition("@")
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(url: str, *, durable: bool = True, busy_timeout: float = BUSY_TIMEOUT_S) -> Store:
    """Connect to the store at `url` as it is, without migrating it (`store.open_store` migrates)."""
    from queuectl.core import paths

    backend, path = parse_url(url)
    if path is not None and not url.startswith("sqlite:"):
        url = "sqlite:///" + str(path).lstrip("/")  # a bare path: spelled as a URL for workers started from here
    if path is not None and path.parent.is_relative_to(paths.home().absolute()) and not path.parent.exists():
        # the home (and folders in it) is the one place made on demand; any other folder is a typo
        paths.ensure_home_or_fail()
        paths.make_private_dirs(path.parent)
    return (
        _open_sqlite(url, path, durable, busy_timeout)
        if backend == "sqlite" and path is not None
        else _open_postgresql(url, durable, busy_timeout)
    )


def _disk_nearly_full(store: Store | None) -> bool:
    """SQLite reports a full disk as an I/O error when a write of the WAL fails: look."""
    if store is None or store.path is None:
        return False
    try:
        stats = os.statvfs(store.path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 4 * 1024 * 1024


def describe_db_error(exc: BaseException, store: Store | None = None) -> str:
    """A one-line message for a database error, naming the likely cause."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f" ({store.path})" if store is not None and store.path is not None else ""
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return f"the store{where} is not a queuectl database or is corrupt: {text}"
    if "locked" in lowered or "busy" in lowered or "lock timeout" in lowered:  # (PostgreSQL: lock_timeout)
        return f"the store{where} is busy (locked by another process for too long); try again"
    if "full" in lowered or "i/o error" in lowered and _disk_nearly_full(store):
        return f"the store{where} is full (no space left on its disk): {text}"
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return f"the store{where} cannot be written: {text}"
    return f"store error{where}: {text}"
