"""MLMD's relational schema (version 10): the tables as SQLAlchemy Core objects.

These Table objects only build queries. The tables themselves are created
from ``ddl/<dialect>.sql``: the statements ml-metadata 1.17 runs, verbatim, so
that a database tracker creates is the database ml-metadata would have made.
Table names are left unquoted, as MLMD writes them: PostgreSQL folds them to
lower case, MySQL keeps their case.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from tracker.store.entities import TypeKind

SCHEMA_VERSION = 10

#: The types MLMD seeds into every new store, in id order (ids 1 to 9).
SYSTEM_TYPES: tuple[tuple[str, TypeKind], ...] = (
    ("mlmd.Dataset", TypeKind.ARTIFACT),
    ("mlmd.Model", TypeKind.ARTIFACT),
    ("mlmd.Metrics", TypeKind.ARTIFACT),
    ("mlmd.Statistics", TypeKind.ARTIFACT),
    ("mlmd.Train", TypeKind.EXECUTION),
    ("mlmd.Transform", TypeKind.EXECUTION),
    ("mlmd.Process", TypeKind.EXECUTION),
    ("mlmd.Evaluate", TypeKind.EXECUTION),
    ("mlmd.Deploy", TypeKind.EXECUTION),
)

metadata = MetaData()


def _table(name: str, *columns: Column[Any]) -> Table:
    return Table(name, metadata, *columns, quote=False)


def _node_times() -> tuple[Column[Any], Column[Any]]:
    return (
        Column("create_time_since_epoch", BigInteger, nullable=False, default=0),
        Column("last_update_time_since_epoch", BigInteger, nullable=False, default=0),
    )


def _property_table(name: str, owner: str) -> Table:
    return _table(
        name,
        Column(owner, Integer, primary_key=True),
        Column("name", String(255), primary_key=True),
        Column("is_custom_property", Boolean, primary_key=True),
        Column("int_value", Integer),
        Column("double_value", Float),
        Column("string_value", Text),
        Column("byte_value", LargeBinary),
        Column("proto_value", LargeBinary),
        Column("bool_value", Boolean),
    )


type_ = _table(
    "Type",
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("version", String(255)),
    Column("type_kind", SmallInteger, nullable=False),
    Column("description", Text),
    Column("input_type", Text),
    Column("output_type", Text),
    Column("external_id", String(255)),
)
type_property = _table(
    "TypeProperty",
    Column("type_id", Integer, primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("data_type", Integer),
)
parent_type = _table(
    "ParentType",
    Column("type_id", Integer, primary_key=True),
    Column("parent_type_id", Integer, primary_key=True),
)
artifact = _table(
    "Artifact",
    Column("id", Integer, primary_key=True),
    Column("type_id", Integer, nullable=False),
    Column("uri", Text),
    Column("state", Integer),
    Column("name", String(255)),
    Column("external_id", String(255)),
    *_node_times(),
)
execution = _table(
    "Execution",
    Column("id", Integer, primary_key=True),
    Column("type_id", Integer, nullable=False),
    Column("last_known_state", Integer),
    Column("name", String(255)),
    Column("external_id", String(255)),
    *_node_times(),
)
context = _table(
    "Context",
    Column("id", Integer, primary_key=True),
    Column("type_id", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("external_id", String(255)),
    *_node_times(),
)
artifact_property = _property_table("ArtifactProperty", "artifact_id")
execution_property = _property_table("ExecutionProperty", "execution_id")
context_property = _property_table("ContextProperty", "context_id")
event = _table(
    "Event",
    Column("id", Integer, primary_key=True),
    Column("artifact_id", Integer, nullable=False),
    Column("execution_id", Integer, nullable=False),
    Column("type", Integer, nullable=False),
    Column("milliseconds_since_epoch", BigInteger),
)
event_path = _table(
    "EventPath",
    Column("event_id", Integer, nullable=False),
    Column("is_index_step", Boolean, nullable=False),
    Column("step_index", Integer),
    Column("step_key", Text),
)
attribution = _table(
    "Attribution",
    Column("id", Integer, primary_key=True),
    Column("context_id", Integer, nullable=False),
    Column("artifact_id", Integer, nullable=False),
)
association = _table(
    "Association",
    Column("id", Integer, primary_key=True),
    Column("context_id", Integer, nullable=False),
    Column("execution_id", Integer, nullable=False),
)
parent_context = _table(
    "ParentContext",
    Column("context_id", Integer, primary_key=True),
    Column("parent_context_id", Integer, primary_key=True),
)
mlmd_env = _table("MLMDEnv", Column("schema_version", Integer, primary_key=True))

#: The 15 table names of schema version 10.
TABLE_NAMES = frozenset(metadata.tables)


def ddl(dialect: str) -> list[str]:
    """The CREATE statements for a dialect (``sqlite``, ``postgresql`` or ``mysql``)."""
    text = (resources.files("tracker.store") / "ddl" / f"{dialect}.sql").read_text()
    return [line.rstrip(";") for line in text.splitlines() if line and not line.startswith("--")]
