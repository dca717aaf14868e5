"""The command palette offers every action of the registry for the screen on show, by name; the
app runs it, switching to its tab, or says why it cannot run."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from queuectl.tui import actions
from queuectl.tui.actions import Action, key_label


class ActionCommands(Provider):
    def _offered(self) -> list[Action]:
        from queuectl.tui.screens.job_detail import JobDetailScreen

        on_detail = any(isinstance(s, JobDetailScreen) for s in self.app.screen_stack[-2:])
        scope = actions.DETAIL if on_detail else actions.MAIN
        return [a for a in actions.ACTIONS if a.palette and a.scope == scope]

    async def discover(self) -> Hits:
        for action in self._offered():
            run = partial(self.app.run_palette_action, action)
            yield DiscoveryHit(f"{action.label} ({key_label(action.key)})", run, help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in self._offered():
            text = f"{action.label}: {action.help}"
            score = matcher.match(text)
            if score > 0:
                run = partial(self.app.run_palette_action, action)
                yield Hit(score, matcher.highlight(text), run, help=f"key {key_label(action.key)}")
