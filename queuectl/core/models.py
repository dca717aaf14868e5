"""Peewee models of the store's tables, for the query builder on cold paths (listing, showing).

The schema itself is created by `migrations/` (so old databases migrate forward); these models
must agree with the latest migration. The hot path (claim, finish, heartbeat) uses prebuilt SQL.
"""

from __future__ import annotations

from queuectl.core.orm import peewee

database_proxy = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
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

    class Meta:
        table_name = "run"


class WorkerRecord(BaseModel):
    id = peewee.TextField(primary_key=True)
    host = peewee.TextField()
    pid = peewee.IntegerField()
    pid_created_at = peewee.FloatField()
    queues = peewee.TextField(null=True)  # comma-separated; NULL = every queue
    state = peewee.TextField()
    started_at = peewee.FloatField()
    heartbeat_at = peewee.FloatField()
    stopped_at = peewee.FloatField(null=True)
    stop_requested_at = peewee.FloatField(null=True)
    stop_force = peewee.IntegerField()
    cancel_job_id = peewee.TextField(null=True)
    wake_addr = peewee.TextField(null=True)

    class Meta:
        table_name = "worker"


class Setting(BaseModel):
    key = peewee.TextField(primary_key=True)
    value = peewee.TextField()  # JSON

    class Meta:
        table_name = "setting"


MODELS = (Job, Run, WorkerRecord, Setting)
