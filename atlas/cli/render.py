"""Rendering result rows for the terminal: table (rich), JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def render_rows(rows: list[dict], fmt: str, columns: list[str] | None = None) -> str:
    """Rows as text in `fmt` (table, json or csv); columns default to the first row's keys."""
    columns = columns or (list(rows[0]) if rows else [])
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return out.getvalue()
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(table)
    return console.export_text()
