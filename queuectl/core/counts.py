"""Jobs per state, as the store keeps them: the `job_count` rows (m0002, sharded), which the state
triggers and `queue.py`'s inserts and deletes keep exact, summed.

Apart from the job state machine (`queue.py`) so that `status` reads them without importing it
(start-up, issue 15)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.core.overview import Counts
from queuectl.core.states import JobState

if TYPE_CHECKING:
    from queuectl.core.db import Store


def job_counts(store: Store) -> Counts:
    """Every state's count, 0 for a state no job is in."""
    rows = store.execute("SELECT state, sum(n) FROM job_count GROUP BY state").fetchall()
    by_state = {state.value: 0 for state in JobState}
    by_state.update({state: int(n) for state, n in rows})  # PostgreSQL's sum() is a Decimal
    return Counts(by_state)
