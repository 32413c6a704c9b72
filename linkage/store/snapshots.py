"""A store kept as Parquet files, for engines that cannot update a table in place (Spark).

    <store>/_manifest.json              the committed state: each table's current snapshot
    <store>/<table>/<snapshot>/*.parquet
    <store>/_lock                       held by the one job writing the store
    <store>/_work/                      a run's scratch files, removed when it ends

A run writes a new snapshot of each table it changed, then commits by replacing the
manifest in one `os.replace`. Until then the old manifest names the old snapshots, so a run
that crashes leaves the previous store intact, and the next writer removes what it left
behind (DESIGN §7, invariant 7). The lock file keeps two writers apart.

This module knows files only; the engine that writes the snapshots is the caller's.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from linkage.errors import StoreBusyError, StoreError
from linkage.outputs import make_private_folder, reason

MANIFEST = "_manifest.json"
LOCK = "_lock"
WORK = "_work"
FORMAT = "linkage-parquet-store"


def is_snapshot_store(path: str | Path) -> bool:
    """True when `path` is a folder holding a Parquet store's manifest."""
    return (Path(path) / MANIFEST).is_file()


@dataclass
class Manifest:
    schema_version: int
    tables: dict[str, str] = field(default_factory=dict)  # table -> snapshot id


class Snapshots:
    """The files of one Parquet store."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._locked = False

    # -- reading ------------------------------------------------------------------------
    def exists(self) -> bool:
        return is_snapshot_store(self.root)

    def manifest(self) -> Manifest:
        path = self.root / MANIFEST
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"{self.root}: store not found (run `linkage run` first)") from None
        except (OSError, json.JSONDecodeError) as error:
            raise StoreError(f"{self.root}: unreadable store manifest "
                             f"({error.__class__.__name__})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise StoreError(f"{self.root}: not a linkage Parquet store")
        return Manifest(int(document["schema_version"]), dict(document["tables"]))

    def committed(self) -> Manifest:
        """The manifest, refused unless its tables are of this linkage's schema version
        (Parquet stores are not migrated yet; see PARQUET_COMPATIBLE)."""
        from linkage.store.schema import PARQUET_COMPATIBLE, SCHEMA_VERSION

        manifest = self.manifest()
        if manifest.schema_version not in PARQUET_COMPATIBLE:
            raise StoreError(f"{self.root}: store schema version {manifest.schema_version}; "
                             f"this linkage reads {SCHEMA_VERSION}")
        return manifest

    def table_files(self, manifest: Manifest, table: str) -> list[str]:
        """The committed Parquet files of `table`: none when the manifest does not name it
        or its snapshot is empty (Spark may write no file for an empty table)."""
        snapshot = manifest.tables.get(table)
        return self.files(table, snapshot) if snapshot else []

    def table_path(self, table: str, snapshot: str) -> Path:
        return self.root / table / snapshot

    def files(self, table: str, snapshot: str) -> list[str]:
        """The Parquet files of one snapshot, in a stable order."""
        return sorted(str(p) for p in self.table_path(table, snapshot).glob("*.parquet"))

    # -- writing ------------------------------------------------------------------------
    def new_snapshot_id(self) -> str:
        return uuid.uuid4().hex[:16]

    def work_dir(self) -> Path:
        """A fresh scratch folder for one job (removed by `release`)."""
        path = self.root / WORK / uuid.uuid4().hex[:12]
        make_private_folder(path)
        return path

    def acquire(self) -> None:
        """Take the writer's lock, or raise StoreBusyError while another job holds it. A lock
        left by a process that no longer runs on this host is taken over."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file; a Spark store is a folder")
        try:
            make_private_folder(self.root)
        except OSError as error:
            raise StoreError(f"{self.root}: cannot create the store's folder "
                             f"({reason(error)})") from None
        lock = self.root / LOCK
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                if _stale(lock):
                    lock.unlink(missing_ok=True)
                    continue
                raise StoreBusyError(
                    f"{self.root}: the store is in use by another linkage process; wait for it "
                    "to finish (runs on one store cannot interleave)") from None
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{socket.gethostname()} {os.getpid()}\n")
            self._locked = True
            return
        raise StoreBusyError(f"{self.root}: cannot take the store's lock")

    def release(self) -> None:
        if self._locked:
            shutil.rmtree(self.root / WORK, ignore_errors=True)
            (self.root / LOCK).unlink(missing_ok=True)
            self._locked = False

    def commit(self, manifest: Manifest) -> None:
        """Make `manifest` the store's state, atomically, then remove snapshots it no longer
        names."""
        if not self._locked:
            raise StoreError(f"{self.root}: commit without the store's lock")
        document = {"format": FORMAT, "schema_version": manifest.schema_version,
                    "tables": dict(sorted(manifest.tables.items()))}
        staged = self.root / f"{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
        with open(os.open(staged, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w",
                  encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, self.root / MANIFEST)
        _fsync_dir(self.root)
        self.remove_unreferenced(manifest)

    def remove_unreferenced(self, manifest: Manifest) -> None:
        """Delete snapshots and staged manifests the committed manifest does not name: what a
        crashed run wrote, and what a commit superseded. Only the lock holder calls this."""
        for staged in self.root.glob(f"{MANIFEST}.*.tmp"):
            staged.unlink(missing_ok=True)
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name.startswith("_"):
                continue
            current = manifest.tables.get(folder.name)
            for snapshot in folder.iterdir():
                if snapshot.name != current:
                    shutil.rmtree(snapshot, ignore_errors=True)


def _stale(lock: Path) -> bool:
    try:
        host, pid = lock.read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
