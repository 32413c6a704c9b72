"""The tables of a Spark job, each kept as the parts it was built from.

A table is the committed Parquet files it still holds plus the rows written since, each
INSERT's rows computed once (checkpointed) as a part of their own; its temp view is the union
of the parts. So an INSERT computes and keeps only its own rows, not the whole table again,
and a commit writes only what is not on disk yet: the new snapshot links the files it keeps
from the table's previous snapshot and adds the new parts' files (the snapshot format is
unchanged, one folder of Parquet files). A DELETE or UPDATE that changes rows replaces the
table with one part.

This module keeps the parts; what a statement means is `linkage.store.spark`'s.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Parts added since the last rebuild beyond which they are computed into one: a union of
# many small parts makes every later plan over the table longer.
MAX_PARTS = 16


@dataclass
class Parts:
    """One table: the committed files it holds (read as one DataFrame) and the parts not on
    disk yet, each computed once."""

    empty: DataFrame | None = None  # no rows, the table's columns: a table of no part
    files: list[str] = field(default_factory=list)
    stored: DataFrame | None = None
    added: list[DataFrame] = field(default_factory=list)

    def frame(self) -> DataFrame:
        pieces = ([self.stored] if self.stored is not None else []) + self.added
        return _union(pieces) if pieces else self.empty


class SparkTables:
    """The parts of every table a job made or appended to, by name. `compute` computes a
    DataFrame once (a checkpoint) and returns the computed one."""

    def __init__(self, spark: SparkSession, compute: Callable[[DataFrame], DataFrame]) -> None:
        self.spark = spark
        self.compute = compute
        self._tables: dict[str, Parts] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._tables

    def read(self, name: str, files: list[str]) -> DataFrame:
        """Table `name` as the committed `files`."""
        stored = self.spark.read.parquet(*files)
        self._tables[name] = Parts(files=list(files), stored=stored)
        return stored

    def replace(self, name: str, computed: DataFrame) -> DataFrame:
        """Table `name` as the one computed part `computed` (a rebuild, a new table)."""
        self._tables[name] = Parts(added=[computed])
        return computed

    def empty(self, name: str, schema: DataFrame) -> DataFrame:
        self._tables[name] = Parts(schema)
        return schema

    def append(self, name: str, computed: DataFrame) -> DataFrame:
        """Table `name` with the computed part `computed` added; the whole table."""
        parts = self._tables[name]
        parts.added.append(computed)
        if len(parts.added) > MAX_PARTS:
            parts.added = [self.compute(_union(parts.added))]
        return parts.frame()

    def drop(self, name: str) -> None:
        self._tables.pop(name, None)

    def write(self, name: str, folder: Path) -> None:
        """Write table `name` as a new snapshot in `folder`: its committed files linked (or
        copied where the file system cannot link), its new parts written by Spark."""
        parts = self._tables[name]
        folder.mkdir(parents=True)
        for path in parts.files:
            _link(Path(path), folder / Path(path).name)
        if parts.added or not parts.files:
            rows = _union(parts.added) if parts.added \
                else parts.empty
            rows.write.mode("append").parquet(str(folder))

    def committed(self, name: str, files: list[str]) -> DataFrame:
        """Table `name` as the files of its new snapshot; the table. Its previous snapshot's
        folder is deleted by the commit, so the table must no longer read from there."""
        if not files:
            return self.empty(name, self.spark.createDataFrame(
                [], schema=self._tables[name].frame().schema))
        return self.read(name, files)


def _union(parts: list[DataFrame]) -> DataFrame:
    return functools.reduce(lambda a, b: a.unionByName(b), parts)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
