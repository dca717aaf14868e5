"""A DataTable updated by keyed diffs: changed cells, new rows, gone rows — never a rebuild,
so the cursor, the scroll position and the selection stay where the user left them."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist


class KeyedTable(DataTable):
    """Until the user moves the cursor, it stays on the first (newest) row; after, on the same key."""

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """
    # Home/End go to the first/last row, as in every list (DataTable's scroll sideways).
    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_names = tuple(columns)
        self._cells: dict[str, tuple[object, ...]] = {}
        self._syncing = False
        self.navigated = False  # the user moved the cursor (keys, mouse, or a chosen row)

    def on_mount(self) -> None:
        for name in self._column_names:
            self.add_column(name, key=name)

    @property
    def selected_key(self) -> str | None:
        if not self._cells or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:
            return None

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._syncing and old != new:
            self.navigated = True

    def select_key(self, key: str) -> bool:
        """Put the cursor on `key`'s row, as the user would."""
        if key not in self._cells:
            return False
        self.navigated = True
        self.move_cursor(row=self.get_row_index(key))
        return True

    def sync(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        """Make the table show `rows` (key, cells) in this order, touching only what changed."""
        self._syncing = True
        try:
            self._sync(rows)
        finally:
            self._syncing = False

    def _sync(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        selected = self.selected_key if self.navigated else None
        wanted = dict(rows)
        order = {key: i for i, (key, _) in enumerate(rows)}
        with self.app.batch_update():
            for key in [k for k in self._cells if k not in wanted]:
                try:
                    self.remove_row(key)
                except RowDoesNotExist:
                    pass
                del self._cells[key]
            for key, cells in rows:
                old = self._cells.get(key)
                if old is None:
                    self.add_row(*cells, key=key)
                elif old != cells:
                    for name, before, after in zip(self._column_names, old, cells, strict=False):
                        if before != after:
                            # Re-measuring a column reads all its cells: only when this one is wider
                            # (an age ticking from 4.0s to 5.0s every second would cost most of the idle CPU).
                            wider = _width(after) > self.columns[name].content_width
                            self.update_cell(key, name, after, update_width=wider)
                self._cells[key] = cells
            current = [k for k in self._row_keys_in_order()]
            if current != [k for k, _ in rows]:
                # the ID column holds the row key: order rows as the snapshot does
                self.sort(self._column_names[0], key=lambda row_id: order.get(str(row_id), 0))
            if selected is not None and selected in wanted:
                index = self.get_row_index(selected)
                if index != self.cursor_row:
                    self.move_cursor(row=index, scroll=False)
            elif not self.navigated and self.row_count and self.cursor_row != 0:
                self.move_cursor(row=0)

    def _row_keys_in_order(self) -> list[str]:
        return [row.key.value for row in self.ordered_rows]


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))
