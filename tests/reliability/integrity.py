"""Checks of a store after a crash: MLMD's tables refer to rows that exist, and every stored value loads."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

import tracker
from tracker.store._engine import resolve_url
from tracker.values import ValueStore

#: (table, column, the table its values must be ids of)
REFERENCES = [
    ("Event", "artifact_id", "Artifact"),
    ("Event", "execution_id", "Execution"),
    ("EventPath", "event_id", "Event"),
    ("Attribution", "artifact_id", "Artifact"),
    ("Attribution", "context_id", "Context"),
    ("Association", "execution_id", "Execution"),
    ("Association", "context_id", "Context"),
    ("ParentContext", "context_id", "Context"),
    ("ParentContext", "parent_context_id", "Context"),
    ("ArtifactProperty", "artifact_id", "Artifact"),
    ("ExecutionProperty", "execution_id", "Execution"),
    ("ContextProperty", "context_id", "Context"),
]


def broken_references(url: str) -> dict[str, int]:
    """How many rows of each (table, column) name a row that does not exist (all zero in a sound store)."""
    engine = create_engine(resolve_url(url))
    found: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                (verdict,) = conn.execute(text("PRAGMA integrity_check")).fetchone()  # type: ignore[misc]
                found["sqlite integrity_check"] = 0 if verdict == "ok" else 1
            for table, column, target in REFERENCES:
                count = conn.execute(text(
                    f"SELECT COUNT(*) FROM {table} t LEFT JOIN {target} n ON t.{column} = n.id WHERE n.id IS NULL"
                )).scalar_one()  # fmt: skip
                found[f"{table}.{column}"] = int(count)
    finally:
        engine.dispose()
    return found


def values_missing(store: tracker.Store, values_root: Path) -> list[str]:
    """The artifacts recorded with a value that does not load (gone, or not the bytes recorded)."""
    values = ValueStore(values_root)
    missing = []
    for artifact in store.get_artifacts():
        if not (artifact.external_id or "").startswith("blake3:"):
            continue
        try:
            tracker.load(artifact, store=store, values=values)
        except tracker.TrackerError as exc:
            missing.append(f"artifact {artifact.id}: {exc}")
    return missing
