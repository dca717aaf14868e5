"""A DataTable updated by keyed diffs: changed cells, new rows, gone rows — never a rebuild,
so the cursor, the scroll position and the selection stay where the user left them."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist


class KeyedTable(DataTable):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_names = tuple(columns)
        self._cells: dict[str, tuple[object, ...]] = {}

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

    def sync(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        """Make the table show `rows` (key, cells) in this order, touching only what changed."""
        selected = self.selected_key
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
                    for name, before, after in zip(self._column_names, old, cells):
                        if before != after:
                            self.update_cell(key, name, after, update_width=True)
                self._cells[key] = cells
            current = [k for k in self._row_keys_in_order()]
            if current != [k for k, _ in rows]:
                # the ID column holds the row key: order rows as the snapshot does
                self.sort(self._column_names[0], key=lambda row_id: order.get(str(row_id), 0))
            if selected is not None and selected in wanted:
                index = self.get_row_index(selected)
                if index != self.cursor_row:
                    self.move_cursor(row=index, scroll=False)

    def _row_keys_in_order(self) -> list[str]:
        return [row.key.value for row in self.ordered_rows]
