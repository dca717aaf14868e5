"""`run.outcome`: how a run ended, as a word (succeeded, failed, timeout, could_not_start, worker_lost,
cancelled, interrupted), written by the finish from the run's `RunResult`. Before, the metrics read it
back out of the error text, which ties a counter to the wording of a message.

The runs already finished get theirs from the error texts this version wrote (a one-time reading of
history, frozen here); a run still going gets one when it ends. Depends only on m0001's schema.
"""

from __future__ import annotations

from queuectl.core.db import Store


def up(store: Store) -> None:
    store.execute("ALTER TABLE run ADD COLUMN outcome TEXT")
    store.execute(
        "UPDATE run SET outcome = CASE "
        "WHEN error IS NULL THEN CASE WHEN exit_code = 0 THEN 'succeeded' ELSE 'failed' END "
        "WHEN error = 'worker lost' THEN 'worker_lost' "
        "WHEN error = 'cancelled by user' THEN 'cancelled' "
        "WHEN error = 'interrupted: worker stopped' THEN 'interrupted' "
        "WHEN substr(error, 1, 13) = 'timeout after' THEN 'timeout' "
        "WHEN substr(error, 1, 15) = 'could not start' THEN 'could_not_start' "
        "ELSE 'failed' END "
        "WHERE finished_at IS NOT NULL"
    )
