"""A DataTable updated by keyed diffs: changed cells, new rows, gone rows — never a rebuild,
so the cursor, the scroll position and the selection stay where the user left them.

It can also hold marks (Space, `a`: shown in a narrow first column), give one column the width the
others leave (cut with … when longer), and change which columns it shows.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from queuectl.tui import actions

MARK = "mark"
MARKED = Text("●", style="bold magenta")
UNMARKED = Text(" ")
FLEX_MIN = 12


class KeyedTable(DataTable):
    """Until the user moves the cursor, it stays on the first (newest) row; after, on the same key."""

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """
    # j/k, g/G, Home/End, PageUp/PageDown (DataTable's Home/End scroll sideways): from the registry
    BINDINGS = actions.bindings(actions.TABLE)

    def __init__(self, columns: Sequence[str], *, id: str | None = None, markable: bool = False,
                 flex: str | None = None, fit: Sequence[str] = ()) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.all_columns = tuple(columns)
        self._column_names = tuple(columns)  # shown now (a subset of all_columns, in order)
        self._cells: dict[str, tuple[object, ...]] = {}  # key → cells of all_columns
        self._syncing = False
        self.navigated = False  # the user moved the cursor (keys, mouse, or a chosen row)
        self.markable = markable
        self.marks: set[str] = set()
        self.flex = flex
        self.fit = tuple(fit)  # columns always as wide as their widest cell (names that must not be cut)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        if self.markable:
            self.add_column(" ", key=MARK, width=1)
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

    @property
    def keys(self) -> list[str]:
        return [row.key.value for row in self.ordered_rows]

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

    # ── marks ───────────────────────────────────────────────────────────────────────────────

    def toggle_mark(self, key: str) -> None:
        if key in self.marks:
            self.marks.discard(key)
        elif key in self._cells:
            self.marks.add(key)
        self._show_mark(key)

    def mark_all(self) -> None:
        """Mark every row shown; when all are marked already, clear the marks."""
        everything = set(self._cells)
        before = set(self.marks)
        self.marks = set() if everything and everything <= self.marks else everything
        for key in before ^ self.marks:
            self._show_mark(key)

    def clear_marks(self) -> None:
        before, self.marks = self.marks, set()
        for key in before:
            self._show_mark(key)

    def _show_mark(self, key: str) -> None:
        if self.markable and key in self._cells:
            self.update_cell(key, MARK, MARKED if key in self.marks else UNMARKED)

    # ── columns ─────────────────────────────────────────────────────────────────────────────

    def show_columns(self, names: Sequence[str]) -> None:
        """Show only `names` (of all_columns, in their order); rows are redrawn, the cursor kept."""
        names = tuple(n for n in self.all_columns if n in names)
        if names == self._column_names:
            return
        selected = self.selected_key if self.navigated else None
        rows = [(k, c) for k, c in self._cells.items()]
        self._column_names = names
        self._syncing = True
        try:
            self.clear(columns=True)
            self._cells = {}
            self._add_columns()
            self._sync(rows)
            if selected is not None and selected in self._cells:
                self.move_cursor(row=self.get_row_index(selected), scroll=False)
        finally:
            self._syncing = False

    def set_label(self, name: str, label: str) -> None:
        column = self.columns.get(name)  # type: ignore[call-overload]
        if column is not None and column.label.plain != label:
            column.label = Text(label)
            column.content_width = max(column.content_width, cell_len(label))
            self._redraw_all()
            self.fit_flex()

    def on_resize(self) -> None:
        self.fit_flex()

    def _update_dimensions(self, new_rows) -> None:  # type: ignore[no-untyped-def]
        # The other columns are measured here (after rows were added): fit the flex column to them.
        super()._update_dimensions(new_rows)
        self.fit_flex()

    def fit_flex(self) -> None:
        """Give the flex column the width the other columns leave (at least FLEX_MIN)."""
        if self.flex is None or self.flex not in self._column_names:
            return
        column = self.columns.get(self.flex)  # type: ignore[call-overload]
        if column is None:
            return
        others = sum(c.get_render_width(self) for key, c in self.columns.items() if key != self.flex)
        width = max(FLEX_MIN, self.scrollable_content_region.width - others - 2 * self.cell_padding)
        if column.auto_width or column.width != width:
            column.auto_width = False
            column.width = width
            self._redraw_all()

    def _redraw_all(self) -> None:
        """After a width or label change: DataTable caches rendered cells and lines by its update
        count, not by column width, so without a new count rows drawn at the old widths stay on
        screen beside rows drawn at the new ones (seen as a cut ID column in a few rows only)."""
        self._update_count += 1
        self._clear_caches()
        self._require_update_dimensions = True
        self.refresh()

    # ── rows ────────────────────────────────────────────────────────────────────────────────

    def sync(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        """Make the table show `rows` (key, cells of all_columns) in this order, touching only what changed."""
        self._syncing = True
        try:
            self._sync(rows)
        finally:
            self._syncing = False
        self.fit_content()
        self.fit_flex()

    def fit_content(self) -> None:
        """Make each `fit` column as wide as its label and its widest cell, so a name is never cut."""
        for name in self.fit:
            column = self.columns.get(name)  # type: ignore[call-overload]
            if column is None:
                continue
            index = self.all_columns.index(name)
            width = max([cell_len(name), *(_width(cells[index]) for cells in self._cells.values())])
            if column.auto_width or column.width != width:
                column.auto_width = False
                column.width = width
                self._redraw_all()

    def _shown(self, cells: tuple[object, ...]) -> list[object]:
        if self._column_names == self.all_columns:
            return list(cells)
        return [c for name, c in zip(self.all_columns, cells, strict=False) if name in self._column_names]

    def _sync(self, rows: Sequence[tuple[str, tuple[object, ...]]]) -> None:
        selected = self.selected_key if self.navigated else None
        wanted = dict(rows)
        order = {key: i for i, (key, _) in enumerate(rows)}
        self.marks &= set(wanted)  # a mark never stays on a row the user cannot see
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
                    mark = [MARKED if key in self.marks else UNMARKED] if self.markable else []
                    self.add_row(*mark, *self._shown(cells), key=key)
                elif old != cells:
                    for name, before, after in zip(self.all_columns, old, cells, strict=False):
                        if before != after and name in self._column_names:
                            # Re-measuring a column reads all its cells: only when this one is wider
                            # (an age ticking from 4.0s to 5.0s every second would cost most of the idle CPU).
                            wider = _width(after) > self.columns[name].content_width
                            self.update_cell(key, name, after, update_width=wider)
                self._cells[key] = cells
            current = self.keys
            if current != [k for k, _ in rows]:
                # the ID column holds the row key: order rows as the snapshot does
                self.sort(self._column_names[0], key=lambda row_id: order.get(str(row_id), 0))
            if selected is not None and selected in wanted:
                index = self.get_row_index(selected)
                if index != self.cursor_row:
                    self.move_cursor(row=index, scroll=False)
            elif not self.navigated and self.row_count and self.cursor_row != 0:
                self.move_cursor(row=0)


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))
