"""The command palette offers every action of the registry by name; the app runs it, switching to
its tab, or says why it cannot run."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from queuectl.tui.actions import ACTIONS, key_label


class ActionCommands(Provider):
    async def discover(self) -> Hits:
        for action in ACTIONS:
            run = partial(self.app.run_palette_action, action.name)
            yield DiscoveryHit(f"{action.label} ({key_label(action.key)})", run, help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in ACTIONS:
            text = f"{action.label}: {action.help}"
            score = matcher.match(text)
            if score > 0:
                run = partial(self.app.run_palette_action, action.name)
                yield Hit(score, matcher.highlight(text), run, help=f"key {key_label(action.key)}")
