"""What a DuckDB database may take of this machine: memory, spill space and threads.

DuckDB's own defaults fit a lone process badly: each database may take 80% of memory, and
a run opens two at once (the store, and Splink's while it scores pairs), so a large run
was killed by the kernel instead of spilling. Here the databases of a run share the
config's `engine` limits (linkage.config.EngineConfig): one memory limit (by default a
share of physical memory, or of the container's limit when that is lower), which the store
holds alone except while Splink scores pairs, when it lends Splink `SCORING_SHARE` of it;
each database its own spill folder under one temp directory (by default beside the
store); and a thread count.

Settings reach DuckDB as connection config, never as SQL text.

>>> limits = EngineLimits(memory_limit_bytes=2 * 2**30, temp_root=Path("/tmp/x.tmp"))
>>> limits.memory_limit
'2.0 GiB'
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkage.errors import StoreError
from linkage.outputs import make_private_folder, reason

if TYPE_CHECKING:
    from linkage.config import EngineConfig

# A size as DuckDB writes one: 16GB, 512MB, 1.5GiB (decimal or binary units).
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def size_bytes(size: str) -> int:
    """Bytes in a size written as DuckDB writes one.

    >>> size_bytes("16GB"), size_bytes("1.5 GiB")
    (16000000000, 1610612736)
    """
    match = re.match(r"^([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)$", size.strip().lower())
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 16GB or 512MiB, got {size[:20]!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


# While Splink blocks and scores pairs, its database holds this share of the run's memory
# limit and the store the rest: the store meanwhile only streams persons out and scored
# pairs in, and what it cannot hold of those it spills.
SCORING_SHARE = 0.75

# A container's memory limit (cgroup v2): a number of bytes, or "max" when there is none.
_CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")


def machine_memory() -> int:
    """Bytes of physical memory this process may use: the machine's, or its container's
    limit (cgroup v2) when that is lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        text = _CGROUP_MEMORY_MAX.read_text(encoding="ascii").strip()
    except OSError:
        return physical
    return min(physical, int(text)) if text.isdigit() else physical


def _readable(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


@dataclass(frozen=True)
class EngineLimits:
    """The limits each DuckDB database of a run gets (made by `engine_limits`)."""

    memory_limit_bytes: int
    temp_root: Path  # each database spills into its own folder under it
    max_temp_directory_size: str | None = None
    threads: int | None = None

    @property
    def memory_limit(self) -> str:
        """The memory limit in words, for messages."""
        return _readable(self.memory_limit_bytes)

    def share(self, fraction: float) -> EngineLimits:
        """These limits with `fraction` of the memory limit.

        >>> EngineLimits(1000, Path("/tmp/x.tmp")).share(0.75).memory_limit_bytes
        750
        """
        return replace(self, memory_limit_bytes=int(self.memory_limit_bytes * fraction))

    def duckdb_config(self, temp_directory: Path) -> dict[str, Any]:
        """The connection config of a database that spills into `temp_directory`."""
        config: dict[str, Any] = {"memory_limit": f"{self.memory_limit_bytes}B",
                                  "temp_directory": str(temp_directory)}
        if self.max_temp_directory_size is not None:
            config["max_temp_directory_size"] = self.max_temp_directory_size
        if self.threads is not None:
            config["threads"] = self.threads
        return config

    def spill_folder(self, name: str | None = None) -> Path:
        """A folder for one database's spill files, owner-only: `name` for a store file
        (the same folder each time this process opens it, as DuckDB shares one database
        between its connections), a new one for an in-memory database."""
        try:
            make_private_folder(self.temp_root)
            if name is None:
                return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.temp_root))
            folder = self.temp_root / f"{name}-{os.getpid()}"
            make_private_folder(folder)
            return folder
        except OSError as error:
            raise StoreError(f"{self.temp_root}: cannot create the engine's temp directory "
                             f"({reason(error)}); set engine.temp_directory to a writable "
                             "folder") from None

    def remove_spill_folder(self, folder: Path, *, whole: bool) -> None:
        """Remove a spill folder once its database is closed (`whole`: with anything left
        in it; otherwise only when empty, as another connection may share it), and the
        temp directory when nothing else is in it."""
        if whole:
            shutil.rmtree(folder, ignore_errors=True)
        for empty in (folder, self.temp_root):
            try:
                empty.rmdir()
            except OSError:
                pass  # not empty (another database spills there) or already gone


def engine_limits(engine: EngineConfig | None = None,
                  store: str | Path | None = None) -> EngineLimits:
    """The limits for a run's databases under `engine` (default: the defaults), spilling
    beside the store file `store` unless the config names a temp directory (an in-memory
    store spills under the system's temporary folder)."""
    from linkage.config import EngineConfig

    engine = engine or EngineConfig()
    limit = engine.memory_limit.strip()
    if limit.endswith("%"):
        memory = int(machine_memory() * float(limit[:-1].strip()) / 100)
    else:
        memory = size_bytes(limit)
    if engine.temp_directory is not None:
        root = Path(engine.temp_directory)
    elif store is not None and str(store) != ":memory:":
        root = Path(store).with_name(Path(store).name + ".tmp")
    else:
        root = Path(tempfile.gettempdir()) / "linkage-spill"
    return EngineLimits(memory, root, engine.max_temp_directory_size, engine.threads)
