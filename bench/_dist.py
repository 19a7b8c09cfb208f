"""Latency samples (``Dist``: nearest-rank percentiles) and the column tables they print into."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


@dataclass
class Dist:
    """Latency samples in ms; nearest-rank percentiles."""

    xs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.xs.sort()

    def q(self, p: float) -> float:
        if not self.xs:
            return math.nan
        return self.xs[min(len(self.xs) - 1, max(0, math.ceil(p * len(self.xs)) - 1))]

    @property
    def n(self) -> int:
        return len(self.xs)

    @property
    def p50(self) -> float:
        return self.q(0.50)

    @property
    def p99(self) -> float:
        return self.q(0.99)

    @property
    def max(self) -> float:
        return self.xs[-1] if self.xs else math.nan

    def cells(self) -> list[str]:
        """Table cells: samples, p50, p99, max."""
        return [f"{self.n:,}", fmt(self.p50), fmt(self.p99), fmt(self.max)]

    def vs(self, base: Dist) -> list[str]:
        """``cells()`` and, last, the ratios to ``base``'s p50 and p99."""
        return [*self.cells(), f"{ratio(self.p50, base.p50)} / {ratio(self.p99, base.p99)}"]

    @staticmethod
    def merge(parts: Iterable[Sequence[float]]) -> Dist:
        out: list[float] = []
        for p in parts:
            out.extend(p)
        return Dist(out)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 and not math.isnan(a) and not math.isnan(b) else "-"


def fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:,.1f}"


def print_columns(title: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table of preformatted cells: the first column left-aligned, the others right."""
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print()
    print(title)
    top = line(head)
    print(top)
    print("-" * len(top))
    for r in rows:
        print(line(r))
