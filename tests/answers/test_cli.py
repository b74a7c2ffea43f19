"""The `tracker` command: every subcommand, its --json output, paging, errors, delete's dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from answers_steps import Recorded
from click.testing import CliRunner

import tracker
from tracker.cli import cli


def run(recorded: Recorded, *args: str, code: int = 0, stdin: str | None = None) -> Any:
    """Run the command in-process against the recorded store, with --json; its parsed output."""
    result = CliRunner().invoke(cli, [*args, "--store", recorded.url, "--json"], input=stdin)
    assert result.exit_code == code, result.output + repr(result.exception)
    return json.loads(result.output) if code == 0 else result.output


def text(recorded: Recorded, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", recorded.url, *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _ids(recorded: Recorded) -> dict[str, int]:
    model = tracker.lineage(recorded.baseline[1]).record
    data = tracker.lineage(recorded.baseline[0]).record
    return {"model": int(model.id or 0), "data": int(data.id or 0)}


def test_the_seven_questions(recorded: Recorded) -> None:
    ids = _ids(recorded)
    model, data = str(ids["model"]), str(ids["data"])
    assert [a["id"] for a in run(recorded, "datasets", model)] == [ids["data"]]
    assert run(recorded, "params", model)["params"] == {"lr": 0.1, "seed": 7}
    assert set(run(recorded, "metrics", model)["metrics"]) == {"mse", "n"}
    made = run(recorded, "run-of", model)
    assert made["run"]["name"] == "baseline" and made["pipeline"]["name"] == "toy"
    assert len(run(recorded, "models", data)) == 2
    table = run(recorded, "compare", "baseline", "tuned", "--diff")
    assert table["columns"] == ["baseline", "tuned"]
    assert {r["key"] for r in table["rows"]} >= {"train.lr", "mse"} and all(r["differs"] for r in table["rows"])
    env = run(recorded, "env", model)
    assert env["function"] == "train" and "packages" in env


def test_listings(recorded: Recorded) -> None:
    runs = run(recorded, "runs")
    assert [r["name"] for r in runs["items"]] == ["tuned", "baseline"] and runs["next_page_token"] is None
    assert [r["name"] for r in run(recorded, "runs", "--asc")["items"]] == ["baseline", "tuned"]
    failed = run(recorded, "runs", "custom_properties.tracker_status.string_value = 'failed'")
    assert failed["items"] == []
    executions = run(recorded, "executions", "type = 'train'", "--order", "id")
    assert [e["properties"]["lr"] for e in executions["items"]] == [0.2, 0.1]
    first = run(recorded, "artifacts", "--limit", "2")
    assert len(first["items"]) == 2 and first["next_page_token"]
    rest = run(recorded, "artifacts", "--limit", "100", "--page-token", first["next_page_token"])
    everything = run(recorded, "artifacts", "--all")
    assert [a["id"] for a in first["items"] + rest["items"]] == [a["id"] for a in everything["items"]]
    assert everything["next_page_token"] is None
    assert {c["type"] for c in run(recorded, "contexts", "--all")["items"]} == {"Run", "Pipeline"}


def test_show(recorded: Recorded) -> None:
    ids = _ids(recorded)
    shown = run(recorded, "show", "artifact", str(ids["model"]))
    assert shown["type"] == "Model" and {e["type"] for e in shown["events"]} == {"OUTPUT", "INPUT"}
    assert "tracker_value" not in shown["custom_properties"]
    execution = run(recorded, "show", "execution", str(shown["events"][0]["execution_id"]))
    assert execution["kind"] == "execution" and execution["contexts"][0]["type"] == "Run"
    by_name = run(recorded, "show", "run", "tuned")
    assert by_name["name"] == "tuned" and len(by_name["executions"]) == 3 and by_name["parents"][0]["name"] == "toy"
    printed = text(recorded, "show", "artifact", str(ids["model"]))
    assert printed.startswith(f"Model #{ids['model']}") and "events" in printed


@pytest.mark.parametrize("fmt", ["text", "mermaid", "dot", "json", "html"])
def test_lineage_formats(recorded: Recorded, fmt: str, tmp_path: Any) -> None:
    model = str(_ids(recorded)["model"])
    out = tmp_path / f"graph.{fmt}"
    result = CliRunner().invoke(cli, ["lineage", model, "--store", recorded.url, "--direction", "upstream",
                                      "--format", fmt, "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = out.read_text()
    marker = {"text": f"a{model}", "mermaid": "flowchart LR", "dot": "digraph", "json": '"nodes"', "html": "<html"}
    assert marker[fmt] in written.lower() if fmt == "html" else marker[fmt] in written


def test_lineage_json_and_filters(recorded: Recorded) -> None:
    model = str(_ids(recorded)["model"])
    graph = run(recorded, "lineage", model, "--direction", "upstream", "--format", "json")
    assert sorted(n["type"] for n in graph["nodes"]) == ["Model", "list", "load", "load", "train"]
    graph = run(recorded, "lineage", model, "--type", "Model", "--type", "train", "--direction", "upstream")
    assert sorted(n["type"] for n in graph["nodes"]) == ["Model", "train"]
    run_graph = run(recorded, "lineage", "tuned", "--run")
    assert len([n for n in run_graph["nodes"] if n["kind"] == "execution"]) == 3


def test_delete_says_what_lineage_is_lost_before_it_deletes(recorded: Recorded) -> None:
    data = _ids(recorded)["data"]
    plan = run(recorded, "delete", "artifact", str(data), "--dry-run")
    assert plan["dry_run"] is True and plan["events"] == 6 and len(plan["executions_losing_an_input_or_output"]) == 6
    assert recorded.store.get_artifacts_by_id([data])  # still there
    refused = run(recorded, "delete", "artifact", str(data), code=1)
    assert "needs --yes" in refused
    done = run(recorded, "delete", "artifact", str(data), "--yes")
    assert done["dry_run"] is False and recorded.store.get_artifacts_by_id([data]) == []
    assert "nothing deleted" in run(recorded, "delete", "artifact", str(data), "--yes", code=1)


def test_doctor(recorded: Recorded) -> None:
    info = run(recorded, "doctor")
    assert info["schema_version"] == 10 and info["counts"]["executions"] == 6
    assert info["backend"] in ("sqlite", "postgresql", "mysql")
    assert (info["journal_mode"] == "wal") == (info["backend"] == "sqlite")
    assert info["url"] == recorded.store.url  # the password, if any, hidden


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "artifact", "999999"], "no artifact with id 999999"),
        (["show", "run", "nope"], "no run named or numbered 'nope'"),
        (["show", "execution", "x"], "ids are numbers"),
        (["artifacts", "uri ="], "expected a value"),
        (["datasets", "999999"], "no artifact with id 999999"),
        (["artifacts", "--page-token", "garbage"], "not a page token"),
        (["compare", "baseline"], "at least two"),
    ],
)
def test_errors_are_one_clear_line(recorded: Recorded, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--store", recorded.url])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_store_from_environment_and_no_colour_in_a_pipe(recorded: Recorded) -> None:
    """The real console script: TRACKER_URL chooses the store; piped output has no escape codes."""
    env = {**os.environ, "TRACKER_URL": recorded.url}
    done = subprocess.run([sys.executable, "-m", "tracker", "runs"], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "baseline" in done.stdout and "\x1b[" not in done.stdout


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in cli.commands:
        assert f"  {name} " in result.output
