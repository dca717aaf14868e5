"""The worker registry: rows of workers that ended long ago are forgotten when a worker starts."""

from __future__ import annotations

from queuectl.core.registry import WORKER_ROW_RETENTION


def _ids(registry) -> set[str]:
    return {w.id for w in registry.list(include_stopped=True)}


def test_a_starting_worker_forgets_workers_that_ended_over_a_week_ago(registry, clock):
    registry.register("w-old-stopped", "h", 1, 1.0, None, None)
    registry.register("w-old-lost", "h", 2, 1.0, None, None)
    registry.register("w-recent", "h", 3, 1.0, None, None)
    registry.register("w-live", "h", 4, 1.0, None, None)
    registry.mark_stopped("w-old-stopped")
    assert registry.mark_lost("w-old-lost", clock.now())  # its heartbeat is still the one at registration
    clock.advance(WORKER_ROW_RETENTION - 60)
    registry.mark_stopped("w-recent")
    clock.advance(120)  # the first two ended a week and a minute ago, w-recent a minute ago
    registry.register("w-new", "h", 5, 1.0, None, None)
    assert _ids(registry) == {"w-recent", "w-live", "w-new"}
