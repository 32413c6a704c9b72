"""Errors a user can cause, each with the exit code the CLI returns for it.

Messages name files, columns, keys and counts — never a value from an input record.
"""

from __future__ import annotations

import re


class LinkageError(Exception):
    """An error a user can cause and fix; the CLI prints it as one line."""

    exit_code = 1


class ConfigError(LinkageError):
    """The run config is missing, unreadable or invalid."""

    exit_code = 2


class SourceError(LinkageError):
    """A source file is missing, unreadable or lacks a required column."""

    exit_code = 2


class ModelError(LinkageError):
    """The model file is missing or is not a Splink model."""

    exit_code = 2


class OutputError(LinkageError):
    """A file to write (--out, --html) cannot be: a folder, no permission, no such place."""

    exit_code = 2


class StoreError(LinkageError):
    """The store cannot be opened, or a step against it failed."""

    exit_code = 3

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


class StoreBusyError(StoreError):
    """Another process holds the store: two runs on one store must not interleave."""

    exit_code = 4


class MassChangeError(LinkageError):
    """A run would change more of the crosswalk than a scheduled run should (a failed
    upstream export, a parser that swallowed a file): refused, nothing committed."""

    exit_code = 5


class OutOfMemoryError(LinkageError):
    """A run needed more memory than its limit and more spill space than its temp
    directory had: stopped cleanly, nothing committed (instead of a kernel kill)."""

    exit_code = 6

    @classmethod
    def during(cls, stage: str | None, memory_limit: str | None,
               temp_directory: str | None = None) -> OutOfMemoryError:
        """The error for a run that ran out of memory in `stage`, in words that say what
        to change."""
        where = f"stage '{stage}'" if stage else "the command"
        limit = f"its memory limit of {memory_limit}" if memory_limit else \
            "the memory available"
        spill = f" in {temp_directory}" if temp_directory else ""
        return cls(f"{where} ran out of memory: it needed more than {limit} and more spill "
                   f"space than the temp directory{spill} had; nothing was committed. Raise "
                   "engine.memory_limit in the config, set engine.temp_directory (and "
                   "engine.max_temp_directory_size) to a disk with more free space, or run "
                   "with backend: spark")


def ran_out_of_memory(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, is an engine or Python running out
    of memory (a StoreError or Splink's error keeps DuckDB's as its cause).

    >>> import duckdb
    >>> ran_out_of_memory(duckdb.InvalidInputException("arrow scan: Out of Memory Error: x"))
    True
    """
    import duckdb

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (MemoryError, duckdb.OutOfMemoryException)):
            return True
        # Rows streamed from one database into another carry the producer's error as text.
        if isinstance(current, duckdb.Error) and "Out of Memory Error" in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def database_message(error: BaseException) -> str:
    """A database's (or engine's) message, first line only, without quoted literals, which
    may hold input values.

    >>> database_message(ValueError("Conversion Error: could not convert 'JOSE' to DATE\\nLINE 1"))
    "Conversion Error: could not convert '…' to DATE"
    """
    text = str(error).strip()
    line = text.splitlines()[0] if text else error.__class__.__name__
    return re.sub(r"'[^']*'", "'…'", line)
