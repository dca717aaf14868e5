"""`stats --prometheus` and `stats --serve`: the core's metrics snapshot in the Prometheus text format.

prometheus_client (the `metrics` extra) is imported only here, and this module only by those options.
Per-queue concurrency limits and per-queue pauses do not exist yet: only the global pause is exported.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

from queuectl.core.errors import QueuectlError
from queuectl.core.metrics import Snapshot

INSTALL_HINT = "the Prometheus exporter needs the metrics extra: pip install 'queuectl[metrics]'"


def require_client() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise QueuectlError(INSTALL_HINT) from None


def families(snap: Snapshot) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    jobs = GaugeMetricFamily("queuectl_jobs", "Jobs in the store by state (every queue).", labels=["state"])
    for state, n in snap.jobs.items():
        jobs.add_metric([state], n)
    yield jobs

    per_queue = GaugeMetricFamily(
        "queuectl_queue_jobs",
        "Waiting (pending, failed: due for a retry) and running (processing) jobs per queue; "
        "finished jobs are counted by queuectl_jobs only.",
        labels=["queue", "state"],
    )
    oldest = GaugeMetricFamily(
        "queuectl_queue_oldest_waiting_seconds",
        "How long the waiting job that has been due the longest has been due, per queue (0: none due).",
        labels=["queue"],
    )
    for queue, load in snap.queues.items():
        per_queue.add_metric([queue, "pending"], load.pending)
        per_queue.add_metric([queue, "failed"], load.failed)
        per_queue.add_metric([queue, "processing"], load.processing)
        oldest.add_metric([queue], load.oldest_waiting)
    yield per_queue
    yield oldest

    finished = CounterMetricFamily(
        "queuectl_runs_finished",
        "Runs finished by outcome, counted from the exporter's start (and the --since window before it).",
        labels=["outcome"],
    )
    for name, n in snap.runs_finished.items():
        finished.add_metric([name], n)
    yield finished

    for name, help_text, hist in (
        ("queuectl_run_duration_seconds", "Run time of finished runs.", snap.run_duration),
        ("queuectl_queue_wait_seconds", "Time from enqueue to the start of the first run, for jobs not "
                                        "scheduled for later.", snap.queue_wait),
    ):
        family = HistogramMetricFamily(name, help_text)
        family.add_metric([], [(_le(b), n) for b, n in hist.cumulative()], sum_value=hist.sum)
        yield family

    yield GaugeMetricFamily("queuectl_worker_slots", "Slots of live workers (jobs they can run at once).",
                            value=snap.slots)
    yield GaugeMetricFamily("queuectl_worker_slots_busy", "Live worker slots running a job.", value=snap.slots_busy)
    yield CounterMetricFamily(
        "queuectl_workers_lost",
        "Workers found dead or silent past worker_timeout (rows are forgotten after a week: a drop is a reset).",
        value=snap.workers_lost,
    )
    yield GaugeMetricFamily("queuectl_paused", "1 while every queue is paused (queuectl pause), else 0.",
                            value=1 if snap.paused else 0)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def render(snap: Snapshot) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(lambda: snap))
    return generate_latest(registry).decode()


class _Collector:
    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self.read = read

    def collect(self) -> Iterator[Any]:
        return families(self.read())


def serve(read: Callable[[], Snapshot], host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve GET /metrics until SIGTERM or SIGINT (then return), one scrape at a time: one store
    connection, in this thread."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(read))
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") in ("/metrics", "/metrics/"):
            try:
                return metrics_app(environ, start_response)
            except Exception as exc:  # the store did not answer: say so, in one line, and keep serving
                text = " ".join(f"{type(exc).__name__}: {exc}".split())
                print(f"queuectl: error: scrape failed: {text}", file=sys.stderr, flush=True)
                start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
                return [f"queuectl: scrape failed: {text}\n".encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"queuectl: the metrics are at /metrics\n"]

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # no line per scrape on stderr
            pass

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(WSGIServer):
        address_family = family

    try:
        server = make_server(host.strip("[]"), port, app, server_class=Server, handler_class=Quiet)
    except OSError as exc:
        raise QueuectlError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # wsgiref's handler catches every exception (SystemExit, KeyboardInterrupt too) while it answers a
    # request: a signal raising one would be swallowed. A flag, looked at between requests, cannot be.
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.timeout = 0.2
    with server:
        on_ready(f"http://{'[' + host + ']' if family == socket.AF_INET6 else host}:{port}/metrics")
        sys.stdout.flush()
        while not stopping:
            server.handle_request()
