"""Wake-up hints: `enqueue` pings idle workers so they claim at once instead of at their next
poll — on SQLite a datagram to each worker on this host, on PostgreSQL a NOTIFY that reaches
every host. A hint only: a lost one costs at most `poll_interval`."""

from __future__ import annotations

from queuectl.core.db import Store
from queuectl.core.host import host_id
from queuectl.core.states import LIVE_WORKER_STATES, sql_in

_PREFIX = "queuectl-wake-"


class WakeSocket:
    """A worker's end: an abstract-namespace datagram socket (no file, gone with the process)."""

    def __init__(self, worker_id: str) -> None:
        import socket

        self.address = _PREFIX + worker_id
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> None:
        try:
            while True:
                self.sock.recv(64)
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        self.sock.close()


CHANNEL = "queuectl_wake"


class PgListener:
    """A worker's LISTEN on the store's own PostgreSQL connection (re-made after a reconnect)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.connection()
        store.execute(f"LISTEN {CHANNEL}")

    @property
    def current(self) -> bool:
        return not self.store.is_closed() and self.store.connection() is self.conn

    def fileno(self) -> int:
        return self.conn.fileno()

    def drain(self) -> None:
        self.conn.poll()
        self.conn.notifies.clear()


def wake_workers(store: Store) -> int:
    """Ping idle workers: every host's through NOTIFY on PostgreSQL, this host's by datagram on
    SQLite; returns how many datagrams were sent."""
    if not store.is_sqlite:
        store.execute(f"NOTIFY {CHANNEL}")
        return 0
    rows = store.execute(
        f"SELECT wake_addr FROM worker WHERE state IN {sql_in(LIVE_WORKER_STATES)} AND host = ? "
        "AND wake_addr IS NOT NULL",
        (host_id(),),
    ).fetchall()
    if not rows:
        return 0
    import socket  # only with a worker to ping: an enqueue with none never imports it

    sent = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for (address,) in rows:
            try:
                sock.sendto(b"!", "\0" + address)
                sent += 1
            except OSError:
                pass  # gone, or its queue is full: it is awake anyway
    return sent
