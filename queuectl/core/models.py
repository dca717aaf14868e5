"""Peewee models of the store's job and run tables, for the query builder on cold paths (listing,
showing); the hot path (claim, finish, heartbeat) and the other tables use prebuilt SQL.

The schema itself is created by `migrations/` (so old databases migrate forward); these models
must agree with the latest migration (tests/core/test_migrations.py checks it on both stores).

The classes here are bound to no database: `bound_models(db)` makes subclasses bound to one
store's database, once per database (huey's `create_models`). A process-wide binding would make
every JobQueue read the store opened last.
"""

from __future__ import annotations

from typing import NamedTuple
from weakref import WeakKeyDictionary

from queuectl.core.orm import peewee


class BaseModel(peewee.Model):
    class Meta:
        legacy_table_names = False


class Job(BaseModel):
    seq = peewee.AutoField()  # monotonic: FIFO ties and "newest first" listing
    id = peewee.TextField(unique=True)
    command = peewee.TextField()
    cwd = peewee.TextField(null=True)
    env = peewee.TextField(null=True)  # JSON object
    queue = peewee.TextField()
    priority = peewee.IntegerField()
    state = peewee.TextField()
    attempts = peewee.IntegerField()
    max_retries = peewee.IntegerField()
    timeout = peewee.FloatField()
    run_at = peewee.FloatField()
    created_at = peewee.FloatField()
    updated_at = peewee.FloatField()
    started_at = peewee.FloatField(null=True)
    finished_at = peewee.FloatField(null=True)
    worker_id = peewee.TextField(null=True)
    exit_code = peewee.IntegerField(null=True)
    last_error = peewee.TextField(null=True)
    cancel_requested_at = peewee.FloatField(null=True)
    keep_children = peewee.IntegerField(default=0)  # 0/1 (m0005)
    held = peewee.IntegerField(default=0)  # 0/1 (m0008): never claimed until released
    label = peewee.TextField(null=True)
    unique_key = peewee.TextField(null=True)  # unique among waiting and running jobs (m0008)
    on_success = peewee.TextField(null=True)  # hook commands (m0009)
    on_failure = peewee.TextField(null=True)
    on_dead = peewee.TextField(null=True)
    parent_id = peewee.TextField(null=True)  # the job whose finish fired this hook job

    class Meta:
        table_name = "job"


class Run(BaseModel):
    seq = peewee.AutoField()
    job_id = peewee.TextField()
    number = peewee.IntegerField()  # 1, 2, … over the job's life; survives a retry's attempt reset
    attempt = peewee.IntegerField()
    worker_id = peewee.TextField()
    host = peewee.TextField()
    pid = peewee.IntegerField(null=True)
    pid_created_at = peewee.FloatField(null=True)
    started_at = peewee.FloatField()
    finished_at = peewee.FloatField(null=True)
    exit_code = peewee.IntegerField(null=True)
    error = peewee.TextField(null=True)
    output = peewee.BlobField(null=True)
    output_bytes = peewee.BigIntegerField()  # everything the run printed, kept or not
    outcome = peewee.TextField(null=True)  # RunResult.outcome; None while the run goes on

    class Meta:
        table_name = "run"



class Models(NamedTuple):
    """The models bound to one store's database."""

    Job: type[Job]
    Run: type[Run]


_BOUND: WeakKeyDictionary[peewee.Database, Models] = WeakKeyDictionary()


def bound_models(db: peewee.Database) -> Models:
    """`Job` and `Run` bound to `db` (made on first use, then the same classes for that database)."""
    models = _BOUND.get(db)
    if models is None:
        class BoundJob(Job):
            class Meta:
                database = db
                table_name = "job"

        class BoundRun(Run):
            class Meta:
                database = db
                table_name = "run"

        models = _BOUND[db] = Models(BoundJob, BoundRun)
    return models
