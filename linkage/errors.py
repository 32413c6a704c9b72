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


def database_message(error: BaseException) -> str:
    """A database's (or engine's) message, first line only, without quoted literals, which
    may hold input values.

    >>> database_message(ValueError("Conversion Error: could not convert 'JOSE' to DATE\\nLINE 1"))
    "Conversion Error: could not convert '…' to DATE"
    """
    text = str(error).strip()
    line = text.splitlines()[0] if text else error.__class__.__name__
    return re.sub(r"'[^']*'", "'…'", line)
