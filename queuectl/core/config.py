"""Settings and the pause flag as rows of the store, so every process sees the same values."""

from __future__ import annotations

from queuectl.core.db import Store
from queuectl.core.settings import Settings, normalize_key, parse_value

PAUSED_KEY = "paused"  # not a user setting: `pause` and `resume` write it


class ConfigStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._upsert = (
            "INSERT INTO setting (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )

    def stored(self) -> dict[str, object]:
        """Every stored row, decoded; keys not stored fall back to their defaults elsewhere."""
        rows = self.store.execute("SELECT key, value FROM setting").fetchall()
        if not rows:  # all defaults: nothing to decode, and `json` stays unimported (start-up, issue 15)
            return {}
        import json

        return {key: json.loads(value) for key, value in rows}

    def settings(self) -> Settings:
        return Settings.from_stored(self.stored())

    def overridden(self) -> set[str]:
        return {key for key in self.stored() if key != PAUSED_KEY}

    def set(self, key: str, raw: str | int | float) -> tuple[str, int | float]:
        """Validate and store one setting; returns the normalised key and the stored value."""
        import json

        name = normalize_key(key)
        value = parse_value(name, raw)
        with self.store.write():
            self.store.execute(self._upsert, (name, json.dumps(value)))
        return name, value

    def reset(self, key: str) -> str:
        name = normalize_key(key)
        with self.store.write():
            self.store.execute("DELETE FROM setting WHERE key = ?", (name,))
        return name

    def is_paused(self) -> bool:
        return bool(self.stored().get(PAUSED_KEY, False))

    def set_paused(self, paused: bool) -> None:
        import json

        with self.store.write():
            self.store.execute(self._upsert, (PAUSED_KEY, json.dumps(paused)))
