"""``tracker.compare(...)``: runs or artifacts side by side: parameters, metrics and environment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tracker.errors import ConfigurationError, InvalidArgumentError
from tracker.query.answers import Lineage
from tracker.store import Context

SECTIONS = ("params", "metrics", "environment")


@dataclass(frozen=True)
class Row:
    """One compared field: its section, its name, a value per compared item (None where absent)."""

    section: str
    key: str
    values: tuple[Any, ...]

    @property
    def differs(self) -> bool:
        return len({repr(v) for v in self.values}) > 1


@dataclass
class Comparison:
    """A table: one column per compared run or artifact, one row per parameter, metric or environment fact."""

    columns: list[str]
    rows: list[Row] = field(default_factory=list)

    def differences(self) -> Comparison:
        """Only the rows whose values differ."""
        return Comparison(self.columns, [r for r in self.rows if r.differs])

    def section(self, name: str) -> Comparison:
        """Only the rows of one section: ``"params"``, ``"metrics"`` or ``"environment"``."""
        return Comparison(self.columns, [r for r in self.rows if r.section == name])

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per row: section, key, a value per column (by its label), and ``differs``."""
        return [
            {"section": r.section, "key": r.key, **dict(zip(self.columns, r.values, strict=True)), "differs": r.differs}
            for r in self.rows
        ]

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by (section, key), with a ``differs`` column (needs pandas)."""
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ConfigurationError("to_pandas() needs pandas: pip install pandas") from None
        frame = pd.DataFrame(self.to_dicts(), columns=["section", "key", *self.columns, "differs"])
        return frame.set_index(["section", "key"])

    def __str__(self) -> str:
        header = ["", *self.columns]
        body = [[f"{'*' if r.differs else ' '} {r.section}.{r.key}", *(_cell(v) for v in r.values)] for r in self.rows]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]
        ]
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _label(lin: Lineage) -> str:
    record = lin.record
    if isinstance(record, Context):
        return record.name or f"context #{record.id}"
    name = f" {record.name}" if record.name else ""
    return f"{record.type} #{record.id}{name}"


def _facts(lin: Lineage) -> dict[str, dict[str, Any]]:
    env = dict(lin.environment)
    packages = env.pop("packages", {}) or {}
    env.pop("host", None)
    env.update({f"packages.{name}": version for name, version in packages.items()})
    return {"params": dict(lin.params), "metrics": dict(lin.metrics), "environment": env}


def compare(lineages: Sequence[Lineage]) -> Comparison:
    """The comparison of what :class:`Lineage` knows about each item."""
    if len(lineages) < 2:
        raise InvalidArgumentError(f"compare needs at least two runs or artifacts, got {len(lineages)}")
    facts = [_facts(lin) for lin in lineages]
    labels = [_label(lin) for lin in lineages]
    seen: dict[str, int] = {}
    columns = []
    for label in labels:  # two items with one label: number them
        seen[label] = seen.get(label, 0) + 1
        columns.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    rows = []
    for section in SECTIONS:
        keys = sorted({k for f in facts for k in f[section]})
        rows += [Row(section, key, tuple(f[section].get(key) for f in facts)) for key in keys]
    return Comparison(columns, rows)
