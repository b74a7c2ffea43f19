"""Step caching across processes, as a project lives: edit a helper module, upgrade a package, run twice at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker
from tracker import ExecutionState

PIPELINE = """
import json, os, sys, time
import tracker
import helpers
import fakepkg
from helpers import scale

@tracker.step(cache=True)
def prep(values: list) -> list:
    print("ran prep", flush=True)
    return helpers.clean(values)

@tracker.step(cache=True)
def grow(values: list) -> list:
    print("ran grow", flush=True)
    return scale(values)

@tracker.step(cache=True)
def slow(values: list) -> list:
    print("ran slow", flush=True)
    barrier = os.environ.get("BARRIER")
    if barrier:  # both processes are inside the body before either finishes
        open(os.path.join(barrier, str(os.getpid())), "w").close()
        deadline = time.time() + 30
        while len(os.listdir(barrier)) < 2 and time.time() < deadline:
            time.sleep(0.01)
    return sorted(values)

if __name__ == "__main__":
    tracker.configure(store=sys.argv[1], values=sys.argv[2])
    with tracker.run("r"):
        results = {name: globals()[name]([3, -1, 2]) for name in sys.argv[3].split(",")}
        if len(sys.argv) > 4:
            explained = tracker.explain_cache(globals()[sys.argv[4]], [3, -1, 2])
            results["explained"] = [explained.hit, [str(d) for d in explained.differences]]
    print(json.dumps(results))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project: a pipeline script, a helper module beside it, and an installed package in a site directory."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pipeline.py").write_text(PIPELINE)
    (root / "helpers.py").write_text(textwrap.dedent('''
        def clean(values):
            return [v for v in values if v > 0]

        def scale(values):
            return [v * 2 for v in values]
    '''))  # fmt: skip
    site = tmp_path / "site"
    (site / "fakepkg").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("VERSION = 'see the metadata'\n")
    install(site, "1.0")
    return root


def install(site: Path, version: str) -> None:
    for old in site.glob("fakepkg-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    info = site / f"fakepkg-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n")
    (info / "top_level.txt").write_text("fakepkg\n")
    (info / "RECORD").write_text("")


def run_pipeline(project: Path, url: str, steps: str, explain: str | None = None,
                 env: dict[str, str] | None = None) -> tuple[dict[str, object], str]:  # fmt: skip
    extra = [explain] if explain else []
    done = subprocess.run(
        [sys.executable, "pipeline.py", url, str(project.parent / "values"), steps, *extra],
        cwd=project, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(project.parent / "site"), **(env or {})},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(printed)


def test_editing_a_helper_in_another_module_misses(project: Path, store_url: str) -> None:
    results, printed = run_pipeline(project, store_url, "prep,grow")
    assert results == {"prep": [3, 2], "grow": [6, -2, 4]} and printed == "ran prep\nran grow"
    results, printed = run_pipeline(project, store_url, "prep,grow")
    assert results == {"prep": [3, 2], "grow": [6, -2, 4]} and printed == ""  # a new process: both hit
    helpers = project / "helpers.py"
    helpers.write_text(helpers.read_text().replace("v > 0", "v >= 0").replace("v * 2", "v * 3"))
    results, printed = run_pipeline(project, store_url, "prep,grow", explain="prep")
    assert results["prep"] == [3, 2] and results["grow"] == [9, -3, 6]  # the edit reached both calling styles
    assert printed == "ran prep\nran grow"  # `helpers.clean(...)` and `from helpers import scale`
    assert results["explained"] == [True, []]  # after the rerun, the same call hits
    with tracker.connect(store_url) as store:
        prep = store.get_executions_by_type("prep")
        assert [e.last_known_state for e in prep] == [ExecutionState.COMPLETE, ExecutionState.CACHED,
                                                      ExecutionState.COMPLETE]  # fmt: skip
        for step, helper in (("prep", "helpers.clean"), ("grow", "helpers.scale")):
            calls = store.get_executions_by_type(step)
            before, after = (e.custom_properties["tracker_cache_parts"]["code"] for e in (calls[0], calls[2]))
            assert {name for name in before if before[name] != after.get(name)} == {helper}


def test_upgrading_a_package_the_code_imports_misses(project: Path, store_url: str) -> None:
    run_pipeline(project, store_url, "prep")
    install(project.parent / "site", "2.0")
    results, printed = run_pipeline(project, store_url, "grow", explain="prep")
    assert results["explained"] == [False, ["environment fakepkg: 1.0 -> 2.0"]]
    results, printed = run_pipeline(project, store_url, "prep")
    assert printed == "ran prep"


def test_two_processes_with_the_same_key_at_once(project: Path, store_url: str, tmp_path: Path) -> None:
    """Both run the body and record COMPLETE (nothing is locked); a later call reuses the newer one."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    command = [sys.executable, "pipeline.py", store_url, str(tmp_path / "values"), "slow"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "BARRIER": str(barrier)}
    both = [subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err for _, err in outputs]
    assert all(out.startswith("ran slow") for out, _ in outputs)
    results, printed = run_pipeline(project, store_url, "slow")
    assert results == {"slow": [-1, 2, 3]} and printed == ""
    with tracker.connect(store_url) as store:
        first, second, third = store.get_executions_by_type("slow")
        assert [e.last_known_state for e in (first, second, third)] == [
            ExecutionState.COMPLETE, ExecutionState.COMPLETE, ExecutionState.CACHED]  # fmt: skip
        assert third.custom_properties["tracker_cached_from"] == second.id
        assert {e.custom_properties["tracker_cache_key"] for e in (first, second, third)} == {
            first.custom_properties["tracker_cache_key"]}  # fmt: skip
        for execution in (first, second, third):  # each has its own input and output events
            events = store.get_events_by_execution_ids([execution.id])  # type: ignore[list-item]
            assert sorted(e.type.name for e in events) == ["INPUT", "OUTPUT"]
