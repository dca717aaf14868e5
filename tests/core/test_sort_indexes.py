"""m0011: the first page of the Jobs sorts by priority and by command is read from an index, in
both directions, on both stores (the plan is checked: at a million jobs a scan takes seconds)."""

from __future__ import annotations

import pytest

from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec


def plan(queue, store, sort: str, descending: bool) -> str:
    query = queue._select(None, None).order_by(*queue._sort_order(sort, descending)).limit(100)
    sql, params = query.sql()
    if store.is_sqlite:
        rows = store.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        return "\n".join(str(r[-1]) for r in rows)
    # a tiny table is cheaper to sort than to walk an index: forbid the sort to see whether the
    # index gives the order (it does exactly when the ORDER BY matches it)
    store.db.execute_sql("SET enable_sort = off")
    try:
        return "\n".join(r[0] for r in store.db.execute_sql(f"EXPLAIN {sql}", params).fetchall())
    finally:
        store.db.execute_sql("RESET enable_sort")


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize(("sort", "index"), [("priority", "job_priority_seq"), ("command", "job_command_seq"),
                                              ("state", "job_state_seq"), ("queue", "job_queue_seq")])
def test_a_sorted_first_page_walks_an_index(queue, store, sort, index, descending):
    queue.enqueue([JobSpec(f"echo {i}", priority=i % 3, cwd="/srv") for i in range(20)], Settings())
    shown = plan(queue, store, sort, descending)
    assert index in shown
    assert "TEMP B-TREE" not in shown and "Sort" not in shown.replace("Sort Key", "")


def test_a_reversed_sort_is_the_exact_reverse(queue):
    queue.enqueue([JobSpec(f"echo {'x' * 130}{i % 2}", priority=i % 2, cwd="/srv") for i in range(6)], Settings())
    for sort in ("priority", "command", "state", "created"):
        down = [j.id for j in queue.list_jobs(sort=sort)]
        assert [j.id for j in queue.list_jobs(sort=sort, descending=False)] == down[::-1]


def test_commands_longer_than_the_index_key_enqueue(queue):
    """A PostgreSQL B-tree entry must fit a third of a page: the index holds a prefix only."""
    long = "echo " + "y" * 20_000
    [job_id] = queue.enqueue([JobSpec(long, cwd="/srv")], Settings())
    assert queue.list_jobs(sort="command")[0].id == job_id
