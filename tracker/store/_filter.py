"""MLMD's filter-query language, parsed by hand and compiled to SQLAlchemy.

A filter goes through three steps:

1. :func:`parse` turns the text into a small syntax tree, refusing anything
   malformed with a :class:`~tracker.errors.FilterError` that names the
   position. Nesting depth, length and list sizes are bounded, so no input
   can exhaust the stack or the database's limits.
2. :func:`resolve` checks names and types for one node kind and lowers the
   tree to a *plan*: hashable tuples in which every literal (and every
   property name) is a numbered parameter. Two filters that differ only in
   their literals have the same plan, hence the same SQL text.
3. :func:`where` builds the SQLAlchemy condition for a plan, once per plan
   and backend (the caller caches the compiled statement).

Property and neighbour references are LEFT joins, so ``a OR b`` keeps nodes
that lack what ``a`` or ``b`` mentions (MLMD's inner joins drop them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    LargeBinary,
    String,
    Table,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from tracker.errors import FilterError
from tracker.store import schema as s
from tracker.store.entities import ArtifactState, EventType, ExecutionState

#: Longest filter accepted, in characters.
MAX_LENGTH = 16 * 1024
#: Deepest nesting of parentheses, NOT, unary minus and functions, and longest arithmetic chain.
MAX_DEPTH = 20
#: Greatest height of the expression tree (an AND or OR of n terms counts n): databases parse
#: and evaluate expressions recursively (SQLite refuses a depth over 1000; MySQL overruns its stack).
MAX_HEIGHT = 256
#: Most values in one IN list.
MAX_IN_LIST = 1000
#: Most tables one filter may join (SQLite allows 64 in a query, MySQL 61).
MAX_JOINS = 40

KEYWORDS = frozenset({"AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "NULL", "TRUE", "FALSE"})
FUNCTIONS = ("LENGTH", "LOWER", "UPPER")
COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})

# --- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "int", "double", "str", "ident", "qident" (backquoted), "op", "kw", "end"
    value: Any
    pos: int


_SCAN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<double>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)"
    r"|(?P<int>\d+)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|!=|<>|[=<>(),.+\-*/])"
)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "`": "`", "n": "\n", "t": "\t", "r": "\r"}
#: Escapes kept as written, so that LIKE patterns can say "a literal % or _".
_KEPT_ESCAPES = frozenset("%_")


def tokenize(text: str) -> list[Token]:
    """The tokens of *text*, ending with an ``end`` token."""
    tokens: list[Token] = []
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch in "'\"`":
            value, end = _quoted(text, pos)
            tokens.append(Token("qident" if ch == "`" else "str", value, pos))
            pos = end
            continue
        m = _SCAN.match(text, pos)
        if m is None:
            raise FilterError(text, pos, "a name, a value or an operator", f"unexpected character {ch!r}")
        kind = m.lastgroup or ""
        word = m.group()
        if kind == "int":
            number = int(word) if len(word) <= 19 else 2**63
            if number > 2**63 - 1:
                raise FilterError(text, pos, "an integer that fits in 64 bits")
            tokens.append(Token("int", number, pos))
        elif kind == "double":
            real = float(word)
            if not math.isfinite(real):
                raise FilterError(text, pos, "a finite number")
            tokens.append(Token("double", real, pos))
        elif kind == "ident":
            upper = word.upper()
            tokens.append(Token("kw", upper, pos) if upper in KEYWORDS else Token("ident", word, pos))
        elif kind == "op":
            tokens.append(Token("op", word, pos))
        pos = m.end()
    tokens.append(Token("end", None, n))
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The value of the quoted string or name at *start*, and the offset after its closing quote."""
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch == quote:
            return "".join(out), pos + 1
        if ch == "\0":
            raise FilterError(text, pos, "a string without NUL characters", "no backend compares them alike")
        if ch == "\\":
            if pos + 1 >= n:
                break
            nxt = text[pos + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in _KEPT_ESCAPES:
                out.append("\\" + nxt)
            else:
                raise FilterError(text, pos, "a known escape (\\\\, \\', \\\", \\n, \\t, \\r, \\%, \\_)")
            pos += 2
            continue
        out.append(ch)
        pos += 1
    what = "name" if quote == "`" else "string"
    raise FilterError(text, start, f"the closing {quote} of this {what}")


# --- syntax tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    value: Any  # int, float, str, bool or None
    pos: int


@dataclass(frozen=True)
class Ref:
    parts: tuple[str, ...]
    pos: int
    quoted: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Op:
    """An operator applied to operands: AND, OR (any number), NOT, NEG, comparisons, arithmetic,
    LIKE, IN (operand first, then the list), BETWEEN, ISNULL and CALL (name in *extra*)."""

    op: str
    args: tuple[Node, ...]
    pos: int
    negated: bool = False
    extra: str = ""


Node = Lit | Ref | Op


class _Parser:
    """Recursive descent over the token list; nesting is counted so that it stays far from Python's limit."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, expected: str, detail: str = "", pos: int | None = None) -> FilterError:
        return FilterError(self.text, self.tok.pos if pos is None else pos, expected, detail)

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_kw(self, *words: str) -> bool:
        return self.tok.kind == "kw" and self.tok.value in words

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def expect_op(self, op: str, expected: str | None = None) -> Token:
        if not self.at_op(op):
            raise self.fail(expected or f"'{op}'")
        return self.take()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"at most {MAX_DEPTH} levels of nesting", "the filter is nested too deeply")

    # grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.fail("a condition", "the filter is empty")
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.fail("AND, OR or the end of the filter")
        return node

    def or_expr(self) -> Node:
        terms = [self.and_expr()]
        while self.at_kw("OR"):
            pos = self.take().pos
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else Op("OR", tuple(terms), pos)

    def and_expr(self) -> Node:
        terms = [self.not_expr()]
        while self.at_kw("AND"):
            pos = self.take().pos
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else Op("AND", tuple(terms), pos)

    def not_expr(self) -> Node:
        if self.at_kw("NOT"):
            pos = self.take().pos
            self.enter()
            operand = self.not_expr()
            self.depth -= 1
            return Op("NOT", (operand,), pos)
        return self.predicate()

    def predicate(self) -> Node:
        left = self.additive()
        tok = self.tok
        if tok.kind == "op" and tok.value in COMPARISONS:
            self.take()
            op = "!=" if tok.value == "<>" else tok.value
            return Op(op, (left, self.additive()), tok.pos)
        negated = False
        if self.at_kw("NOT"):
            self.take()
            negated = True
            if not self.at_kw("LIKE", "IN", "BETWEEN"):
                raise self.fail("LIKE, IN or BETWEEN after NOT")
        if self.at_kw("LIKE"):
            self.take()
            return Op("LIKE", (left, self.additive()), tok.pos, negated)
        if self.at_kw("IN"):
            self.take()
            self.expect_op("(", "'(' and a list of values after IN")
            items = [self.additive()]
            while self.at_op(","):
                self.take()
                items.append(self.additive())
                if len(items) > MAX_IN_LIST:
                    raise self.fail(f"at most {MAX_IN_LIST} values in an IN list")
            self.expect_op(")", "',' or ')' in the IN list")
            return Op("IN", (left, *items), tok.pos, negated)
        if self.at_kw("BETWEEN"):
            self.take()
            low = self.additive()
            if not self.at_kw("AND"):
                raise self.fail("AND in BETWEEN ... AND ...")
            self.take()
            return Op("BETWEEN", (left, low, self.additive()), tok.pos, negated)
        if negated:  # pragma: no cover - excluded above
            raise self.fail("LIKE, IN or BETWEEN after NOT")
        if self.at_kw("IS"):
            self.take()
            isnot = False
            if self.at_kw("NOT"):
                self.take()
                isnot = True
            if not self.at_kw("NULL"):
                raise self.fail("NULL after IS" + (" NOT" if isnot else ""))
            self.take()
            return Op("ISNULL", (left,), tok.pos, isnot)
        return left

    def additive(self) -> Node:
        left = self.multiplicative()
        chain = 0
        while self.at_op("+", "-"):
            tok = self.take()
            chain += 1
            if chain > MAX_DEPTH:
                raise self.fail(f"at most {MAX_DEPTH} operators in a row", pos=tok.pos)
            left = Op(tok.value, (left, self.multiplicative()), tok.pos)
        return left

    def multiplicative(self) -> Node:
        left = self.unary()
        chain = 0
        while self.at_op("*", "/"):
            tok = self.take()
            chain += 1
            if chain > MAX_DEPTH:
                raise self.fail(f"at most {MAX_DEPTH} operators in a row", pos=tok.pos)
            left = Op(tok.value, (left, self.unary()), tok.pos)
        return left

    def unary(self) -> Node:
        if self.at_op("-", "+"):
            tok = self.take()
            self.enter()
            operand = self.unary()
            self.depth -= 1
            if tok.value == "+":
                return operand
            if (
                isinstance(operand, Lit)
                and isinstance(operand.value, (int, float))
                and not isinstance(operand.value, bool)
            ):
                return Lit(-operand.value, tok.pos)
            return Op("NEG", (operand,), tok.pos)
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("int", "double", "str"):
            self.take()
            return Lit(tok.value, tok.pos)
        if tok.kind == "kw" and tok.value in ("TRUE", "FALSE", "NULL"):
            self.take()
            return Lit({"TRUE": True, "FALSE": False, "NULL": None}[tok.value], tok.pos)
        if self.at_op("("):
            self.take()
            self.enter()
            inner = self.or_expr()
            self.depth -= 1
            self.expect_op(")", "')'")
            return inner
        if tok.kind in ("ident", "qident"):
            return self.reference()
        if tok.kind == "end":
            raise self.fail("a value, a name or '('", "the filter ends too early")
        raise self.fail("a value, a name or '('")

    def reference(self) -> Node:
        first = self.take()
        if first.kind == "ident" and self.at_op("("):
            name = first.value.upper()
            if name not in FUNCTIONS:
                raise FilterError(
                    self.text,
                    first.pos,
                    f"one of the functions {', '.join(FUNCTIONS)}",
                    f"unknown function {first.value}",
                )
            self.take()
            self.enter()
            arg = self.or_expr()
            self.depth -= 1
            self.expect_op(")", "')' after the function's argument")
            return Op("CALL", (arg,), first.pos, extra=name)
        parts = [first.value]
        quoted = [first.kind == "qident"]
        while self.at_op("."):
            self.take()
            tok = self.tok
            if tok.kind not in ("ident", "qident", "kw"):
                raise self.fail("a name after '.'")
            self.take()
            parts.append(tok.value if tok.kind != "kw" else self.text[tok.pos : tok.pos + len(tok.value)])
            quoted.append(tok.kind == "qident")
            if len(parts) > 8:
                raise self.fail("a shorter name", "names have at most 4 parts, as properties.<name>.int_value")
        return Ref(tuple(parts), first.pos, tuple(quoted))


def parse(text: str) -> Node:
    """The syntax tree of a filter; FilterError when it is malformed."""
    if not isinstance(text, str):
        raise FilterError(repr(text), 0, "a filter string", f"got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FilterError(text[:200], 0, f"a filter of at most {MAX_LENGTH} characters", f"got {len(text)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no database can take it
        raise FilterError(text, exc.start, "text without lone surrogates") from None
    tree = _Parser(text).parse()
    height = _height(tree)
    if height > MAX_HEIGHT:
        raise FilterError(text, 0, f"a simpler filter (at most {MAX_HEIGHT} terms deep)",
                          f"this one is {height} deep; an IN list is shallower than many ORs")  # fmt: skip
    return tree


def _height(tree: Node) -> int:
    """The height of the expression the tree becomes in SQL, computed without recursion."""
    heights: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(tree, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, Op):
            heights[id(node)] = 1
        elif done:
            tallest = max(heights[id(a)] for a in node.args)
            heights[id(node)] = tallest + (len(node.args) if node.op in ("AND", "OR") else 1)
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args)
    return heights[id(tree)]


# --- names and types ------------------------------------------------------------------------------

#: A value's type: "int", "double", "string", "bool", "null", or an enum class.
VType = Any

_NODE_ATTRS: dict[str, VType] = {
    "id": "int",
    "type_id": "int",
    "type": "string",
    "name": "string",
    "external_id": "string",
    "create_time_since_epoch": "int",
    "last_update_time_since_epoch": "int",
}
_ATTRS: dict[str, dict[str, VType]] = {
    "artifact": {**_NODE_ATTRS, "uri": "string", "state": ArtifactState},
    "execution": {**_NODE_ATTRS, "last_known_state": ExecutionState},
    "context": dict(_NODE_ATTRS),
    "event": {
        "id": "int",
        "artifact_id": "int",
        "execution_id": "int",
        "type": EventType,
        "milliseconds_since_epoch": "int",
    },
}
_TABLES: dict[str, Table] = {"artifact": s.artifact, "execution": s.execution, "context": s.context, "event": s.event}
_PROPS: dict[str, tuple[Table, str]] = {
    "artifact": (s.artifact_property, "artifact_id"),
    "execution": (s.execution_property, "execution_id"),
    "context": (s.context_property, "context_id"),
}
_VALUE_KINDS = {"int_value": "int", "double_value": "double", "string_value": "string", "bool_value": "bool"}

#: Neighbours: (node kind, prefix) -> (link table, column naming the node, column naming the neighbour, neighbour kind).
#: Events are their own neighbour table (no second table).
_NEIGHBOURS: dict[tuple[str, str], tuple[Table, str, str, str]] = {
    ("artifact", "contexts"): (s.attribution, "artifact_id", "context_id", "context"),
    ("artifact", "events"): (s.event, "artifact_id", "", "event"),
    ("execution", "contexts"): (s.association, "execution_id", "context_id", "context"),
    ("execution", "events"): (s.event, "execution_id", "", "event"),
    ("context", "parent_contexts"): (s.parent_context, "context_id", "parent_context_id", "context"),
    ("context", "child_contexts"): (s.parent_context, "parent_context_id", "context_id", "context"),
    ("context", "artifacts"): (s.attribution, "context_id", "artifact_id", "artifact"),
    ("context", "executions"): (s.association, "context_id", "execution_id", "execution"),
}
_PREFIXES = {
    kind: sorted((p for k, p in _NEIGHBOURS if k == kind), key=len, reverse=True)
    for kind in ("artifact", "execution", "context")
}
_ALIAS = re.compile(r"[0-9A-Za-z_]+")


def _type_word(t: VType) -> str:
    if isinstance(t, type) and issubclass(t, IntEnum):
        return {ArtifactState: "an artifact state", ExecutionState: "an execution state", EventType: "an event type"}[t]
    return {"int": "an integer", "double": "a number", "string": "a string", "bool": "a boolean", "null": "NULL"}[t]


def _numeric(t: VType) -> bool:
    return t in ("int", "double")


def _is_enum(t: VType) -> bool:
    return isinstance(t, type) and issubclass(t, IntEnum)


@dataclass
class Plan:
    """A resolved filter: hashable ``key`` (expression and joins) and the parameter values, in order."""

    kind: str
    expr: tuple[Any, ...]
    joins: tuple[tuple[Any, ...], ...]
    params: list[Any] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.expr, self.joins, tuple(self.types))


class _Resolver:
    """Checks one tree against one node kind and lowers it to a :class:`Plan`."""

    def __init__(self, text: str, kind: str, backend: str) -> None:
        self.text = text
        self.kind = kind
        self.backend = backend
        self.params: list[Any] = []
        self.types: list[str] = []
        self.joins: list[tuple[Any, ...]] = []
        self.slots: dict[tuple[Any, ...], int] = {}
        self.tables = 1

    def fail(self, pos: int, expected: str, detail: str = "") -> FilterError:
        return FilterError(self.text, pos, expected, detail)

    def param(self, value: Any, vtype: str) -> tuple[Any, ...]:
        self.params.append(value)
        self.types.append(vtype)
        return ("param", len(self.params) - 1, vtype)

    def join(self, key: tuple[Any, ...], spec: tuple[Any, ...], tables: int, pos: int) -> int:
        slot = self.slots.get(key)
        if slot is None:
            self.tables += tables
            if self.tables > MAX_JOINS:
                raise self.fail(
                    pos, f"a filter that joins at most {MAX_JOINS} tables", "too many properties and neighbours"
                )
            self.joins.append(spec)
            slot = self.slots[key] = len(self.joins)
        return slot

    # references
    def ref(self, node: Ref) -> tuple[tuple[Any, ...], VType]:
        parts, pos = node.parts, node.pos
        return self.ref_on(0, self.kind, parts, pos, node.quoted, top=True)

    def ref_on(
        self, slot: int, kind: str, parts: tuple[str, ...], pos: int, quoted: tuple[bool, ...], top: bool
    ) -> tuple[tuple[Any, ...], VType]:
        head = parts[0]
        attrs = _ATTRS[kind]
        if len(parts) == 1 and not quoted[0]:
            if head in attrs:
                return self.attribute(slot, kind, head, pos)
            raise self.fail(pos, f"one of {', '.join(sorted(attrs))}", f"unknown name {head}")
        if head in ("properties", "custom_properties") and not quoted[0] and kind != "event":
            if len(parts) != 3 or parts[2] not in _VALUE_KINDS:
                raise self.fail(
                    pos, f"{head}.<name>.int_value, double_value, string_value or bool_value", f"got {'.'.join(parts)}"
                )
            custom = head == "custom_properties"
            key = ("prop", slot, custom, parts[1])
            join_slot = self.slots.get(key)
            if join_slot is None:
                # the property's name is a parameter too: the plan (and the SQL) does not depend on it
                name_param = self.param(parts[1], "string")
                join_slot = self.join(key, ("prop", slot, kind, custom, name_param[1]), 1, pos)
            return ("col", join_slot, parts[2]), _VALUE_KINDS[parts[2]]
        if top and not quoted[0]:
            for prefix in _PREFIXES.get(kind, ()):
                if head.startswith(prefix + "_") and _ALIAS.fullmatch(head[len(prefix) + 1 :]):
                    if len(parts) < 2:
                        raise self.fail(pos, f"{head}.<attribute>")
                    target = _NEIGHBOURS[(kind, prefix)][3]
                    tables = 1 if target == "event" else 2
                    nslot = self.join(("nb", prefix, head), ("nb", kind, prefix), tables, pos)
                    return self.ref_on(nslot, target, parts[1:], pos, quoted[1:], top=False)
        if len(parts) == 1 or kind == "event" or quoted[0]:
            raise self.fail(pos, f"one of {', '.join(sorted(attrs))}", f"unknown name {'.'.join(parts)}")
        neighbours = ", ".join(f"{p}_<alias>" for p in sorted(_PREFIXES.get(kind, ()))) if top else ""
        raise self.fail(
            pos,
            "an attribute, properties.<name>.<kind>_value, custom_properties.<name>.<kind>_value"
            + (f" or {neighbours}" if neighbours else ""),
            f"unknown name {'.'.join(parts)}",
        )

    def attribute(self, slot: int, kind: str, name: str, pos: int) -> tuple[tuple[Any, ...], VType]:
        vtype = _ATTRS[kind][name]
        if name == "type" and kind != "event":
            tslot = self.join(("type", slot), ("type", slot), 1, pos)
            return ("col", tslot, "name"), "string"
        return ("col", slot, name), vtype

    # expressions
    def condition(self, node: Node) -> tuple[Any, ...]:
        """*node* as a condition (a boolean expression)."""
        expr, vtype = self.value(node)
        if vtype != "bool":
            raise self.fail(node.pos, "a condition", f"this is {_type_word(vtype)}, not true or false")
        if expr[0] in ("col", "param", "call"):
            return ("istrue", expr)
        return expr

    def value(self, node: Node) -> tuple[tuple[Any, ...], VType]:
        if isinstance(node, Lit):
            return self.literal(node)
        if isinstance(node, Ref):
            return self.ref(node)
        op = node.op
        if op in ("AND", "OR"):
            return (op.lower(), tuple(self.condition(a) for a in node.args)), "bool"
        if op == "NOT":
            return ("not", self.condition(node.args[0])), "bool"
        if op == "NEG":
            expr, vtype = self.value(node.args[0])
            if not _numeric(vtype):
                raise self.fail(node.pos, "a number after '-'", f"this is {_type_word(vtype)}")
            return ("neg", expr), vtype
        if op in ("+", "-", "*", "/"):
            (a, ta), (b, tb) = self.value(node.args[0]), self.value(node.args[1])
            for t, arg in ((ta, node.args[0]), (tb, node.args[1])):
                if not _numeric(t):
                    raise self.fail(arg.pos, f"a number around '{op}'", f"this is {_type_word(t)}")
            vtype = "double" if op == "/" or "double" in (ta, tb) else "int"
            return ("arith", op, a, b), vtype
        if op in COMPARISONS:
            left, right = node.args
            if self.bare_name(left) and not self.bare_name(right):
                # an enum name on the left: ``LIVE = state``
                b, tb = self.value(right)
                a, ta = self.operand(left, tb, node.pos)
            else:
                a, ta = self.value(left)
                b, tb = self.operand(right, ta, node.pos)
            self.comparable(ta, tb, right.pos)
            if "null" in (ta, tb):
                return ("null",), "bool"  # a comparison with NULL is never true, as in SQL
            cmp = ("cmp", op, a, b, self.strings(ta, tb))
            if op == "!=":
                return self.unset_state_too(cmp, (a, ta), (b, tb)), "bool"
            return cmp, "bool"
        if op == "LIKE":
            a, ta = self.value(node.args[0])
            pattern = node.args[1]
            if ta not in ("string", "null"):
                raise self.fail(node.args[0].pos, "a string around LIKE", f"this is {_type_word(ta)}")
            if not (isinstance(pattern, Lit) and isinstance(pattern.value, str)):
                raise self.fail(pattern.pos, "a string literal as the LIKE pattern, such as 'data/%'")
            trailing = len(pattern.value) - len(pattern.value.rstrip("\\"))
            if trailing % 2:
                raise self.fail(pattern.pos, "a LIKE pattern that does not end in a lone backslash (\\\\ is one)")
            b, _ = self.value(pattern)
            if self.backend == "sqlite" and b[0] == "param":
                # SQLite's LIKE ignores case; GLOB with the translated pattern does not
                self.params[b[1]] = _glob(self.params[b[1]])
                return ("glob", node.negated, a, b), "bool"
            return ("like", node.negated, a, b), "bool"
        if op == "IN":
            a, ta = self.value(node.args[0])
            items = []
            for item in node.args[1:]:
                b, tb = self.operand(item, ta, item.pos)
                self.comparable(ta, tb, item.pos)
                items.append(b)
            found = ("in", node.negated, a, tuple(items), self.strings(ta, ta))
            return (self.unset_state_too(found, (a, ta)) if node.negated else found), "bool"
        if op == "BETWEEN":
            a, ta = self.value(node.args[0])
            lo, tlo = self.operand(node.args[1], ta, node.args[1].pos)
            hi, thi = self.operand(node.args[2], ta, node.args[2].pos)
            self.comparable(ta, tlo, node.args[1].pos)
            self.comparable(ta, thi, node.args[2].pos)
            return ("between", node.negated, a, lo, hi, self.strings(ta, ta)), "bool"
        if op == "ISNULL":
            a, _ = self.value(node.args[0])
            return ("isnull", node.negated, a), "bool"
        if op == "CALL":
            a, ta = self.value(node.args[0])
            if ta not in ("string", "null"):
                raise self.fail(node.args[0].pos, f"a string as the argument of {node.extra}", f"got {_type_word(ta)}")
            return ("call", node.extra, a), "int" if node.extra == "LENGTH" else "string"
        raise AssertionError(op)  # pragma: no cover

    @staticmethod
    def unset_state_too(cond: tuple[Any, ...], *sides: tuple[tuple[Any, ...], VType]) -> tuple[Any, ...]:
        """``state != X`` and ``state NOT IN (...)`` also hold for an unset (NULL) state, as in MLMD."""
        for expr, vtype in sides:
            if _is_enum(vtype) and expr[0] == "col":
                return ("or", (cond, ("isnull", False, expr)))
        return cond

    def bare_name(self, node: Node) -> bool:
        """Whether *node* is a single unquoted name that is not an attribute (so perhaps an enum name)."""
        return (
            isinstance(node, Ref)
            and len(node.parts) == 1
            and not node.quoted[0]
            and node.parts[0] not in _ATTRS[self.kind]
        )

    def operand(self, node: Node, other: VType, pos: int) -> tuple[tuple[Any, ...], VType]:
        """*node* compared with a value of type *other*: enum names resolve against *other*'s enum."""
        if _is_enum(other):
            name = None
            if isinstance(node, Ref) and self.bare_name(node):
                name = node.parts[0]
            elif isinstance(node, Lit) and isinstance(node.value, str):
                name = node.value
            if name is not None:
                member = other.__members__.get(name.upper())
                if member is None:
                    raise self.fail(
                        node.pos, f"one of {', '.join(other.__members__)}", f"{name} is not {_type_word(other)}"
                    )
                return self.param(int(member), "int"), other
            if isinstance(node, Lit) and isinstance(node.value, int) and not isinstance(node.value, bool):
                return self.param(node.value, "int"), other
        return self.value(node)

    def literal(self, node: Lit) -> tuple[tuple[Any, ...], VType]:
        v = node.value
        if v is None:
            return ("null",), "null"
        if isinstance(v, bool):
            return self.param(v, "bool"), "bool"
        if isinstance(v, int):
            return self.param(v, "int"), "int"
        if isinstance(v, float):
            return self.param(v, "double"), "double"
        return self.param(v, "string"), "string"

    def comparable(self, a: VType, b: VType, pos: int) -> None:
        if a == "null" or b == "null" or a == b:
            return
        if _numeric(a) and _numeric(b):
            return
        if (_is_enum(a) and b == "int") or (_is_enum(b) and a == "int"):
            return
        raise self.fail(pos, _type_word(a), f"cannot compare {_type_word(a)} with {_type_word(b)}")

    @staticmethod
    def strings(a: VType, b: VType) -> bool:
        return bool(a == "string" or b == "string")


def _glob(pattern: Any) -> Any:
    """A LIKE pattern (``%``, ``_``, backslash escapes) as a GLOB pattern, which SQLite matches with case."""
    if not isinstance(pattern, str):
        return pattern
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            ch = pattern[i + 1]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
            i += 2
            continue
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def resolve(text: str, kind: str, backend: str) -> Plan:
    """The plan of filter *text* over nodes of *kind* ("artifact", "execution" or "context") on *backend*."""
    tree = parse(text)
    resolver = _Resolver(text, kind, backend)
    expr = resolver.condition(tree)
    return Plan(kind, expr, tuple(resolver.joins), resolver.params, resolver.types)


# --- SQL ------------------------------------------------------------------------------------------

_SQL_TYPES: dict[str, Any] = {"int": BigInteger(), "double": Float(), "string": String(), "bool": Boolean()}


def _bind(prefix: str, index: int, vtype: str) -> Any:
    return bindparam(f"{prefix}{index}", type_=_SQL_TYPES[vtype])


class _Builder:
    def __init__(self, plan: Plan, backend: str, prefix: str) -> None:
        self.plan = plan
        self.backend = backend
        self.prefix = prefix
        kind_table = _TABLES[plan.kind]
        self.base = kind_table.alias(f"{prefix}n0") if plan.joins else kind_table
        self.slots: list[Any] = [self.base]
        self.from_clause: Any = self.base
        for i, spec in enumerate(plan.joins, start=1):
            self.add_join(i, spec)

    def add_join(self, i: int, spec: tuple[Any, ...]) -> None:
        name = f"{self.prefix}j{i}"
        if spec[0] == "prop":
            _, owner_slot, kind, custom, name_index = spec
            table, owner_col = _PROPS[kind]
            alias = table.alias(name)
            owner = self.slots[owner_slot]
            on = and_(
                alias.c[owner_col] == owner.c.id,
                self.text(alias.c.name, True, "=") == self.text(_bind(self.prefix, name_index, "string"), True, "="),
                alias.c.is_custom_property == (true() if custom else false()),
            )
        elif spec[0] == "type":
            alias = s.type_.alias(name)
            on = alias.c.id == self.slots[spec[1]].c.type_id
        else:
            _, kind, prefix = spec
            link, mine, theirs, target = _NEIGHBOURS[(kind, prefix)]
            link_alias = link.alias(f"{name}l")
            if target == "event":
                alias = link_alias
                on = link_alias.c[mine] == self.base.c.id
            else:
                self.from_clause = self.from_clause.outerjoin(link_alias, link_alias.c[mine] == self.base.c.id)
                alias = _TABLES[target].alias(name)
                on = alias.c.id == link_alias.c[theirs]
        self.from_clause = self.from_clause.outerjoin(alias, on)
        self.slots.append(alias)

    def sql(self, expr: tuple[Any, ...]) -> Any:
        tag = expr[0]
        if tag == "param":
            return _bind(self.prefix, expr[1], expr[2])
        if tag == "col":
            return self.slots[expr[1]].c[expr[2]]
        if tag == "null":
            return null()
        if tag == "and":
            return and_(*(self.sql(e) for e in expr[1]))
        if tag == "or":
            return or_(*(self.sql(e) for e in expr[1]))
        if tag == "not":
            return not_(self.sql(expr[1]))
        if tag == "istrue":
            return self.sql(expr[1]) == true()
        if tag == "neg":
            return -self.sql(expr[1])
        if tag == "arith":
            _, op, a, b = expr
            left, right = self.sql(a), self.sql(b)
            if op == "/":
                # a fraction on every backend, as in MLMD; dividing by zero is NULL (no match), not an error
                numerator = left if self.backend == "mysql" else left * literal(1.0, Float())
                return numerator / func.nullif(right, literal(0, BigInteger()))
            return {"+": left + right, "-": left - right, "*": left * right}[op]
        if tag == "cmp":
            _, op, a, b, strings = expr
            left, right = self.text(self.sql(a), strings, op), self.text(self.sql(b), strings, op)
            fn: Callable[[Any, Any], Any] = {
                "=": lambda x, y: x == y,
                "!=": lambda x, y: x != y,
                "<": lambda x, y: x < y,
                "<=": lambda x, y: x <= y,
                ">": lambda x, y: x > y,
                ">=": lambda x, y: x >= y,
            }[op]
            return fn(left, right)
        if tag in ("like", "glob"):
            _, negated, a, b = expr
            left, right = self.text(self.sql(a), True, "="), self.text(self.sql(b), True, "=")
            cond = left.op("GLOB" if tag == "glob" else "LIKE", is_comparison=True)(right)
            if tag == "glob":  # SQLite's GLOB stops at a NUL character: such a value never matches
                cond = and_(cond, func.instr(cast(left, LargeBinary()), literal_column("X'00'")) == 0)
            return not_(cond) if negated else cond
        if tag == "in":
            _, negated, a, items, strings = expr
            left = self.text(self.sql(a), strings, "=")
            cond = left.in_([self.text(self.sql(i), strings, "=") for i in items])
            return not_(cond) if negated else cond
        if tag == "between":
            _, negated, a, lo, hi, strings = expr
            left = self.text(self.sql(a), strings, "<")
            low, high = self.text(self.sql(lo), strings, "<"), self.text(self.sql(hi), strings, "<")
            cond = and_(left >= low, left <= high)  # BETWEEN with COLLATE bounds does not parse on PostgreSQL
            return not_(cond) if negated else cond
        if tag == "isnull":
            _, negated, a = expr
            value = self.sql(a)
            return value.is_not(None) if negated else value.is_(None)
        if tag == "call":
            _, name, a = expr
            arg = self.sql(a)
            if name == "LENGTH":
                return func.char_length(arg) if self.backend != "sqlite" else func.length(arg)
            return func.lower(arg) if name == "LOWER" else func.upper(arg)
        raise AssertionError(tag)  # pragma: no cover

    def text(self, value: Any, strings: bool, op: str) -> Any:
        """String operands compared byte by byte on every backend (MySQL's default collation ignores case)."""
        if not strings:
            return value
        if self.backend == "mysql":
            from sqlalchemy.dialects import mysql  # only MySQL stores need it

            return cast(value, mysql.BINARY())
        if self.backend == "postgresql" and op in ("<", "<=", ">", ">="):
            return value.collate("C")
        return value


def where(plan: Plan, backend: str, prefix: str = "f") -> ColumnElement[bool]:
    """The condition on the node table that selects the nodes *plan* matches.

    Parameters are named ``{prefix}0``, ``{prefix}1``... in the order of ``plan.params``.
    """
    builder = _Builder(plan, backend, prefix)
    condition = builder.sql(plan.expr)
    if not plan.joins:
        return condition  # type: ignore[no-any-return]
    table = _TABLES[plan.kind]
    matching = select(builder.base.c.id).select_from(builder.from_clause).where(condition)
    return table.c.id.in_(matching)


def ids(plan: Plan, backend: str, prefix: str = "f") -> Any:
    """``SELECT id`` of the nodes *plan* matches (for use inside another statement)."""
    builder = _Builder(plan, backend, prefix)
    return select(builder.base.c.id).select_from(builder.from_clause).where(builder.sql(plan.expr))


def bound(plan: Plan, prefix: str = "f") -> dict[str, Any]:
    """The parameter values of *plan*, by the names :func:`where` gave them."""
    return {f"{prefix}{i}": v for i, v in enumerate(plan.params)}
