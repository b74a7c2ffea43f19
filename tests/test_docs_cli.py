"""The reference pages cover every command of the `tracker` command and every public name of the package."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import tracker

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API = (DOCS / "api.md").read_text(encoding="utf-8")
#: ``::: dotted.path`` lines, which mkdocstrings replaces with the object's generated documentation
DIRECTIVES = re.findall(r"^::: ([\w.]+)\s*$", API, re.MULTILINE)
#: headings written by hand, ``### `name` { #dotted.path }``
BY_HAND = re.findall(r"^#+ .*\{ *#([\w.]+) *\}\s*$", API, re.MULTILINE)
CLI_PAGE = (DOCS / "cli.md").read_text(encoding="utf-8")
#: (module, command, prog_name) of each ``::: mkdocs-click`` block: the generated reference of one command
GENERATED = re.findall(r":module: ([\w.]+)\s+:command: (\w+)\s+:prog_name: ([\w -]+?)\s*$", CLI_PAGE, re.MULTILINE)

_LIST = """
import importlib, json, sys
from tracker.cli import cli
blocks = json.loads(sys.argv[1])
print(json.dumps({"group": sorted(cli.commands),
                  "generated": [getattr(importlib.import_module(m), c).name for m, c, _ in blocks]}))
"""


def _commands() -> dict[str, list[str]]:
    """The commands of the click group ``tracker.cli.cli``, and those the blocks of docs/cli.md generate.

    Asked in another process: importing tracker.cli here would add ``cli`` to the ``tracker``
    package's attributes, which tests/test_exported_members.py checks.
    """
    found = subprocess.run([sys.executable, "-c", _LIST, json.dumps(GENERATED)], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    return json.loads(found)  # type: ignore[no-any-return]


COMMANDS = _commands()


def _path(obj: object) -> str:
    """Where *obj* is defined: ``tracker.sdk.step.step``, or a module's own name."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return f"{obj.__module__}.{obj.__qualname__}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", COMMANDS["group"])
def test_every_command_is_documented(name: str) -> None:
    """Each command is listed in docs/cli.md, and has a block there that generates its reference."""
    assert f"`tracker {name}`" in CLI_PAGE, f"docs/cli.md does not list `tracker {name}`"
    assert name in COMMANDS["generated"], f"docs/cli.md has no `::: mkdocs-click` block for `tracker {name}`"


def test_the_generated_blocks_name_their_commands_right() -> None:
    """Each block's prog_name is ``tracker`` and the command's name, and each command has one block."""
    assert [prog for _, _, prog in GENERATED] == [f"tracker {name}" for name in COMMANDS["generated"]]
    assert sorted(COMMANDS["generated"]) == COMMANDS["group"]


@pytest.mark.parametrize("name", tracker.__all__)
def test_every_public_name_is_in_the_api_reference(name: str) -> None:
    """Each name in tracker.__all__ is documented where it is defined, or by its module's entry."""
    path = _path(getattr(tracker, name))
    module = path.rpartition(".")[0]
    by_module = module in DIRECTIVES and name in getattr(importlib.import_module(module), "__all__", ())
    assert path in DIRECTIVES or path in BY_HAND or by_module, f"docs/api.md has no `::: {path}`"


@pytest.mark.parametrize("path", DIRECTIVES)
def test_no_entry_names_a_module_that_hides_a_function(path: str) -> None:
    """mkdocstrings (griffe) reads a name that is both a submodule and a function as the submodule.

    Such a name would render as the module: modules are named apart from the functions they hold.
    """
    parent, _, last = path.rpartition(".")
    try:
        spec = importlib.util.find_spec(path)
    except ModuleNotFoundError:  # its parent is a module, not a package: path is no submodule
        spec = None
    if spec is not None and parent:
        python_sees = getattr(importlib.import_module(parent), last)
        assert python_sees is importlib.import_module(path), f"`::: {path}` renders the module, not {python_sees!r}"


def test_every_page_is_in_the_nav() -> None:
    """Each page under docs/ is reachable from the site's navigation (mkdocs.yml)."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    in_nav = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config, re.MULTILINE))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages - in_nav == set(), "pages missing from the nav of mkdocs.yml"
    assert in_nav - pages == set(), "the nav of mkdocs.yml names pages that do not exist"
