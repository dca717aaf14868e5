"""Messages posted by thread workers (past tense: they report what happened)."""

from __future__ import annotations

from textual.message import Message

from queuectl.tui.viewmodel import QueueSnapshot


class SnapshotLoaded(Message):
    def __init__(self, snapshot: QueueSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class SnapshotFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
