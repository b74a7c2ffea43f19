"""One module unpickles: tracker/values/serializers.py. Every other module of tracker is checked with ``ast``.

The lesson of MLflow's CVE-2026-96804 and -96775 (a guard checked by some load paths, bypassed by
others): the trust check must sit at the one place that deserializes, and a test must keep it so.
"""

from __future__ import annotations

import ast
import io
import pickle
from pathlib import Path

import pytest

import tracker
from tracker.errors import UntrustedValueError, ValueIntegrityError
from tracker.values import _trust
from tracker.values.serializers import load_trusted

PACKAGE = Path(tracker.__file__).parent
ALLOWED = PACKAGE / "values" / "serializers.py"

#: module -> the functions (and classes) of it that deserialize code-bearing data; "*" for all of them.
FORBIDDEN: dict[str, set[str]] = {
    "pickle": {"load", "loads", "Unpickler", "_load", "_loads", "_Unpickler"},
    "_pickle": {"*"},
    "cPickle": {"*"},
    "cloudpickle": {"load", "loads"},
    "dill": {"load", "loads", "Unpickler"},
    "joblib": {"load"},
    "marshal": {"load", "loads"},
    "shelve": {"*"},
    "jsonpickle": {"decode", "loads"},
    "pandas": {"read_pickle"},
    "torch": {"load"},
    "yaml": {"unsafe_load", "full_load", "load", "load_all", "unsafe_load_all"},
    "copyreg": set(),
}
#: calls that deserialize pickles only when asked to: (module, function, keyword that must not be true)
FORBIDDEN_WHEN = {("numpy", "load"): "allow_pickle"}


def violations(source: str, filename: str = "<module>") -> list[str]:
    """Where *source* calls, imports or reaches for an unpickler: ``file:line: what``."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> "module" or "module.attr"
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    def forbidden(module: str, attr: str) -> bool:
        names = FORBIDDEN.get(module.split(".")[0])
        return names is not None and ("*" in names or attr in names)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
                if FORBIDDEN.get(alias.name.split(".")[0]) == {"*"}:
                    flag(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                if forbidden(node.module, alias.name) or (alias.name == "*" and node.module.split(".")[0] in FORBIDDEN):
                    flag(node, f"imports {alias.name} from {node.module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id, "")
            if forbidden(module, node.attr):
                flag(node, f"uses {module}.{node.attr}")
        if isinstance(node, ast.Call):
            target = _dotted(node.func, aliases)
            if target is not None:
                module, _, attr = target.rpartition(".")
                keyword = FORBIDDEN_WHEN.get((module.split(".")[0], attr))
                if keyword is not None and any(
                    k.arg == keyword and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords
                ):
                    flag(node, f"calls {target}({keyword}=...)")
                if module.split(".")[0] in ("importlib", "builtins", "") and attr in ("import_module", "__import__"):
                    names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                    if any(n.split(".")[0] in FORBIDDEN for n in names):
                        flag(node, f"imports {names[0]} dynamically")
            if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
                base, name = node.args[0], node.args[1]
                if (
                    isinstance(base, ast.Name)
                    and isinstance(name, ast.Constant)
                    and isinstance(name.value, str)
                    and forbidden(aliases.get(base.id, ""), name.value)
                ):
                    flag(node, f"reaches {aliases[base.id]}.{name.value} through getattr")
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in ("load", "loads")
                and "serializ" in ast.unparse(node.func.value).lower()  # a Serializer's load: only load_trusted's
            ):
                flag(node, f"calls {ast.unparse(node.func)}() on a serializer")
    return found


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def test_no_module_but_serializers_unpickles() -> None:
    """Every module of tracker except values/serializers.py is free of unpickler calls and imports."""
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 30 and ALLOWED in modules
    found = [
        v for path in modules if path != ALLOWED for v in violations(path.read_text(), str(path.relative_to(PACKAGE)))
    ]
    assert found == []


def test_serializers_unpickles_only_in_load_trusted() -> None:
    """In serializers.py itself, the unpickler is reached only by a Serializer's load, which load_trusted calls."""
    tree = ast.parse(ALLOWED.read_text())
    callers = {
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("load", "loads")
    }
    assert callers == {"load", "load_trusted"}  # CloudpickleSerializer.load (pickle.load) and found.load(file)


BAD = {
    "import pickle\npickle.loads(b'')": "uses pickle.loads",
    "import pickle as p\np.load(f)": "uses pickle.load",
    "from pickle import loads\n": "imports loads from pickle",
    "from pickle import Unpickler as U\n": "imports Unpickler from pickle",
    "import _pickle\n": "imports _pickle",
    "import cloudpickle\ncloudpickle.loads(b'')": "uses cloudpickle.loads",
    "import marshal\nmarshal.loads(b'')": "uses marshal.loads",
    "import shelve\n": "imports shelve",
    "import dill\ndill.load(f)": "uses dill.load",
    "import joblib\njoblib.load('m')": "uses joblib.load",
    "import pandas as pd\npd.read_pickle('x')": "uses pandas.read_pickle",
    "import numpy as np\nnp.load('x', allow_pickle=True)": "calls numpy.load(allow_pickle=...)",
    "import torch\ntorch.load('m')": "uses torch.load",
    "import yaml\nyaml.unsafe_load(s)": "uses yaml.unsafe_load",
    "import importlib\nimportlib.import_module('pickle')": "imports pickle dynamically",
    "import pickle\ngetattr(pickle, 'loads')(b'')": "reaches pickle.loads through getattr",
    "self._serializer.load(file)": "calls self._serializer.load() on a serializer",
    "SERIALIZERS['cloudpickle'].load(file)": "on a serializer",
}


@pytest.mark.parametrize("source", BAD)
def test_the_check_finds_each_way_to_unpickle(source: str) -> None:
    """The checker is not blind: each forbidden form is reported (so the test above can fail)."""
    (found,) = violations(source)
    assert BAD[source] in found


def test_the_check_leaves_harmless_code_alone() -> None:
    """Pickling, numpy.load without pickles and json are fine."""
    good = "import pickle\npickle.dumps(1)\nimport numpy as np\nnp.load('x')\nnp.load('x', allow_pickle=False)\n"
    assert violations(good + "json.loads(s)\n") == []


def _payload(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return exec, (f"open({str(marker)!r}, 'w').close()",)

    return pickle.dumps(Payload())


def test_load_trusted_checks_trust_before_it_opens_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one unpickling function refuses an unsigned value without calling its opener; then checks the bytes."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    marker = tmp_path / "marker"
    data = _payload(marker)
    fingerprint = f"blake3:{_trust.new_hash().update(data).hexdigest()}"
    opened: list[bool] = []

    def opener() -> io.BytesIO:
        opened.append(True)
        return io.BytesIO(data)

    for mac in (None, "", "hmac-sha256:" + "0" * 64):
        with pytest.raises(UntrustedValueError, match="it was not unpickled"):
            load_trusted(
                opener, fingerprint=fingerprint, serializer="cloudpickle", mac=mac, allow_untrusted=False, what="x"
            )
    assert opened == [] and not marker.exists()
    other = f"blake3:{'0' * 64}"
    with pytest.raises(ValueIntegrityError, match="x no longer matches its fingerprint"):
        load_trusted(opener, fingerprint=other, serializer="cloudpickle", mac=_trust.sign(other, "cloudpickle"),
                     allow_untrusted=False, what="x")  # fmt: skip
    assert opened == [True] and not marker.exists()
    load_trusted(opener, fingerprint=fingerprint, serializer="cloudpickle", mac=None, allow_untrusted=True, what="x")
    assert marker.exists()  # the payload is live: only the checks kept it from running
