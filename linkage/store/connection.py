"""Opening a DuckDB connection the way every part of linkage wants it."""

from __future__ import annotations

from typing import Any

import duckdb


def connect(database: str = ":memory:", read_only: bool = False,
            config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that draws no progress bar: DuckDB prints one on stdout for
    long queries, and stdout belongs to the CLI's summary (and --json). `config` holds
    settings fixed for the database's lifetime (its memory limit and temp directory:
    linkage.store.resources)."""
    connection = duckdb.connect(database, read_only=read_only, config=config or {})
    try:
        connection.execute("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:
        pass  # in a Jupyter kernel without ipywidgets DuckDB refuses the setting; no bar there
    return connection
