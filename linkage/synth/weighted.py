"""Weighted choice tables: common names are drawn often, rare ones rarely."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """An immutable table of values with relative weights.

    Cumulative weights are computed once, so a draw is one `random()` call and a
    bisect; `random.choices` would rebuild them on every call.

    >>> table = Weighted([("GARCIA", 3), ("SMITH", 1)])
    >>> table.draw(random.Random(1))
    'GARCIA'
    """

    __slots__ = ("values", "_cumulative", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        pairs = list(pairs)
        if not pairs or any(weight < 0 for _, weight in pairs):
            raise ValueError("a weighted table needs at least one value and no negative weights")
        self.values: tuple[T, ...] = tuple(value for value, _ in pairs)
        self._cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]
        if self._total <= 0:
            raise ValueError("a weighted table needs a positive total weight")

    def draw(self, rng: random.Random) -> T:
        """Draw one value with probability proportional to its weight."""
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self.values[min(index, len(self.values) - 1)]

    def __len__(self) -> int:
        return len(self.values)


def parse_weighted(text: str) -> Weighted[str]:
    """Parse `NAME:weight` items separated by commas or new lines.

    Names may contain spaces or apostrophes (`DE LA CRUZ:8`, `O'BRIEN:3`).

    >>> parse_weighted("DE LA CRUZ:8, NGUYEN:60").values
    ('DE LA CRUZ', 'NGUYEN')
    """
    pairs = []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, weight = item.rpartition(":")
        pairs.append((name.strip(), float(weight)))
    return Weighted(pairs)
