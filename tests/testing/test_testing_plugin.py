"""The pytest plugin, run by pytester: fixtures, assertion failures, xdist, goldens, and no effect when unused."""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# In-process pytester runs forget the modules they import when they end; imported here, tracker's stay loaded.
import tracker.testing._lineage  # noqa: E402
import tracker.testing._stores  # noqa: E402, F401

# pytester's in-process runs share sys.modules with this one: the module names here are unique in tests/
STEPS = """
    import tracker

    @tracker.step
    def load(day: int) -> list[float]:
        return [float(day), float(day) + 1.0]

    @tracker.step
    def train(data: list[float], lr: float = 0.1) -> dict[str, list[float]]:
        return {"weights": [x * lr for x in data]}
"""


def test_the_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    """pytest finds the plugin in tracker's distribution metadata, under the name 'tracker'."""
    (entry,) = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "tracker"]
    assert entry.value == "tracker.testing.pytest_plugin"


def test_each_test_gets_its_own_store_and_nothing_leaks(pytester: pytest.Pytester) -> None:
    """tracker_store is fresh per test and the default while it runs; tracker_run is current; afterwards the
    defaults are back, and nothing was written outside the tests' temporary directories."""
    pytester.makepyfile(plugin_steps=STEPS)
    pytester.makepyfile(
        test_inner_fixtures="""
        import tracker
        from tracker.sdk import _state
        from plugin_steps import load, train

        def test_first(tracker_store):
            assert tracker_store.get_executions() == []
            train(load(day=1))  # outside any run: still recorded into this store
            assert len(tracker_store.get_executions()) == 2

        def test_second(tracker_store):
            assert tracker_store.get_executions() == []
            assert _state.default_store() is tracker_store
            tracker.configure(on_error="raise")  # undone after the test, with the defaults

        def test_run(tracker_run, request):
            assert tracker.current_run() is tracker_run and tracker_run.name == request.node.name
            train(load(day=1))
            assert len(tracker_run.store.get_executions_by_context(tracker_run.context_id)) == 2

        def test_the_defaults_are_back():
            assert _state._store is None and _state._values is None and tracker.current_run() is None
            assert _state._on_error == "warn"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    outside = [p for p in pytester.path.rglob("*") if "runpytest-" not in str(p)]  # the tests' temporary dirs
    assert [
        p for p in outside if p.name == ".tracker" or p.suffix == ".sqlite" or (p.is_dir() and p.name != "__pycache__")
    ] == []


def test_tracker_disabled_switches_tracking_off(pytester: pytest.Pytester) -> None:
    """With tracker_disabled, steps run as plain functions and log_* do nothing, even outside any run."""
    pytester.makepyfile(plugin_steps=STEPS)
    pytester.makepyfile(
        test_inner_off="""
        import tracker
        from plugin_steps import load, train

        def test_off(tracker_disabled, tracker_store):
            assert train(load(day=1)) == {"weights": [0.1, 0.2]}
            tracker.log_metrics(loss=0.5)
            tracker.log_params(seed=1)
            assert tracker_store.get_executions() == []

        def test_on_again(tracker_store):
            load(day=1)
            assert len(tracker_store.get_executions()) == 1
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_assertion_failures_show_the_lineage_in_pytest_output(pytester: pytest.Pytester) -> None:
    """A failed lineage assertion or replay reads as a test failure with the lineage, not a bare False."""
    pytester.makepyfile(plugin_steps=STEPS)
    pytester.makepyfile(
        test_inner_messages="""
        from tracker.testing import assert_made_from, assert_ran, replay
        from plugin_steps import load, train

        def test_made_from(tracker_run):
            data, other = load(day=1), load(day=2)
            assert_made_from(train(data), other, step=train)

        def test_ran(tracker_run):
            train(load(day=1), lr=0.5)
            assert_ran(train, params={"lr": 0.1})

        def test_replay(tracker_run, monkeypatch):
            import plugin_steps, tracker
            train(load(day=1))
            (execution,) = tracker_run.store.get_executions("type = 'train'")
            changed = tracker.step(name="train")(lambda data, lr=0.1: {"weights": [0.0]})
            monkeypatch.setattr(plugin_steps, "train", changed)
            replay(execution).assert_equal()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E*LineageAssertionError: dict #3 (length 1) was not made from list #2 (length 2) by step 'train'.",
            "E*dict #3 (length 1) was made by:",
            "E*execution 3 'train' (COMPLETE; lr=0.1): data=list #1 (length 2) -> output=dict #3 (length 1)",
            "E*list #2 (length 2) was read by no step.",
            "E*LineageAssertionError: step 'train' ran 0 times with lr=0.1 in run 'test_ran', expected once.",
            "E*execution 2 'train' (COMPLETE; lr=0.5): data=list #1 (length 2) -> output=dict #2 (length 1)",
            "E*OutputMismatchError: replay of execution 2 (step 'train') with the current code (recorded as "
            "execution 3) differs from the record in 2 places (rtol=1e-07, atol=0):",
            "E*output?'weights'?: expected 2 items, got 1",
            "E*output?'weights'??0?: expected 0.1, got 0.0 (off by 0.1, more than the 1e-08 allowed)",
        ]
    )


def test_fixtures_work_under_xdist(pytester: pytest.Pytester) -> None:
    """Each xdist worker makes its own template; every test still gets a fresh store of its own."""
    pytester.makepyfile(plugin_steps=STEPS)
    pytester.makepyfile(
        test_inner_parallel="""
        import os
        import pytest
        from plugin_steps import load

        @pytest.mark.parametrize("day", range(8))
        def test_fresh(tracker_run, day):
            assert tracker_run.store.get_executions() == []
            load(day=day)
            assert [e.properties["day"] for e in tracker_run.store.get_executions()] == [day]
            assert os.environ["PYTEST_XDIST_WORKER"] in str(tracker_run.store.url)
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)


PLAIN_PROJECT = """
    import json, sys, warnings
    from pathlib import Path

    def pytest_sessionfinish(session):
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tracker", "sqlalchemy", "numpy", "pandas"))
        Path(__file__).parent.parent.joinpath("loaded.json").write_text(json.dumps(loaded))
"""


def test_a_project_that_does_not_use_tracker_sees_no_effect(pytester: pytest.Pytester) -> None:
    """With the plugin loaded, a suite that uses none of it passes the same, warns nothing, writes nothing, and
    loads none of tracker's machinery: only the plugin module and the two light modules it sits in."""
    project = pytester.mkdir("project")
    (project / "conftest.py").write_text(textwrap.dedent(PLAIN_PROJECT))
    (project / "test_plain.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture
            def store(tmp_path):  # a fixture named like tracker's would be, without the prefix
                return tmp_path / "store"

            @pytest.mark.parametrize("x", [1, 2])
            def test_plain(x, store, monkeypatch):
                monkeypatch.setenv("TRACKER_URL", "nowhere")
                assert x in (1, 2) and not store.exists()

            def test_fails():
                assert 1 == 2
            """
        )
    )
    with_plugin = pytester.runpytest_subprocess(project, "-p", "no:cacheprovider", "-W", "error", "--strict-markers")
    with_plugin.assert_outcomes(passed=2, failed=1)
    loaded = json.loads((pytester.path / "loaded.json").read_text())
    assert loaded == ["tracker", "tracker.errors", "tracker.testing", "tracker.testing.pytest_plugin"]
    assert sorted(p.name for p in project.iterdir() if p.name != "__pycache__") == ["conftest.py", "test_plain.py"]
    without = pytester.runpytest_subprocess(project, "-p", "no:cacheprovider", "-p", "no:tracker")
    without.assert_outcomes(passed=2, failed=1)
    assert json.loads((pytester.path / "loaded.json").read_text()) == []

    def report(lines: list[str]) -> list[str]:  # the run's report, without the header and the timing
        return [line.split(" in ")[0] for line in lines[lines.index("") :] if "runpytest" not in line]

    assert report(with_plugin.outlines) == report(without.outlines)


def test_no_tracker_turns_the_plugin_off(pytester: pytest.Pytester) -> None:
    """-p no:tracker removes the fixtures and the marker; otherwise --fixtures and --markers list them."""
    listed = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    listed.stdout.fnmatch_lines(["*tracker_store*", "*tracker_run*", "*tracker_disabled*", "*tracker_golden*"])
    pytester.runpytest("--markers").stdout.fnmatch_lines(["@pytest.mark.tracker_goldens(directory, record=None*"])
    pytester.makepyfile(test_inner_uses="def test_uses(tracker_store):\n    pass\n")
    result = pytester.runpytest("-p", "no:tracker", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'tracker_store' not found*"])


GOLDEN_PIPELINE = """
    import tracker

    @tracker.step
    def load(day: int) -> list[float]:
        return [float(day), float(day) + 1.0]

    @tracker.step
    def train(data: list[float], lr: float = 0.1) -> dict[str, list[float]]:
        return {{"weights": [x * lr * {factor} for x in data]}}
"""

GOLDEN_TEST = """
    import pytest
    import golden_pipeline as pipeline

    def record():
        pipeline.train(pipeline.load(day=1), lr=0.5)

    @pytest.mark.tracker_goldens("goldens", record=record)
    def test_golden(tracker_golden):
        tracker_golden.replay().assert_equal()
"""


def test_golden_tests_record_replay_fail_on_change_and_refresh(pytester: pytest.Pytester) -> None:
    """The golden workflow: no goldens is an error naming the command; --tracker-refresh-goldens records them;
    each recorded execution is a test; changed code fails at the path that changed; a refresh accepts it."""
    pytester.makepyfile(golden_pipeline=GOLDEN_PIPELINE.format(factor=1))
    pytester.makepyfile(test_inner_goldens=GOLDEN_TEST)
    options = ("-p", "no:cacheprovider", "-W", "error")
    missing = pytester.runpytest_subprocess(*options)
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(
        ["*no golden store at *goldens*mlmd.sqlite; record it with `pytest --tracker-refresh*"]
    )

    recorded = pytester.runpytest_subprocess("--tracker-refresh-goldens", "-v", *options)
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(["*test_golden?load-1? PASSED*", "*test_golden?train-2? PASSED*"])
    golden = pytester.path / "goldens" / "mlmd.sqlite"
    assert sorted(p.name for p in golden.parent.iterdir()) == ["mlmd.sqlite"]  # small values live in the store
    before = golden.read_bytes()

    pytester.runpytest_subprocess(*options).assert_outcomes(passed=2)
    assert golden.read_bytes() == before  # replays go to a copy: the golden store is never written
    assert sorted(p.name for p in golden.parent.iterdir()) == ["mlmd.sqlite"]

    pytester.makepyfile(golden_pipeline=GOLDEN_PIPELINE.format(factor=2))
    changed = pytester.runpytest_subprocess(*options)
    changed.assert_outcomes(passed=1, failed=1)
    changed.stdout.fnmatch_lines(["*output?'weights'??0?: expected 0.5, got 1.0*"])  # ?: fnmatch has [ ] as classes

    pytester.runpytest_subprocess("--tracker-refresh-goldens", *options).assert_outcomes(passed=2)
    pytester.runpytest_subprocess(*options).assert_outcomes(passed=2)
    with closing(sqlite3.connect(golden)) as db:  # the refreshed store holds one recording, not two
        assert db.execute("SELECT COUNT(*) FROM Execution").fetchone() == (2,)

    under_xdist = pytester.runpytest_subprocess("--tracker-refresh-goldens", "-n", "2", *options)
    under_xdist.stdout.fnmatch_lines(["*run --tracker-refresh-goldens without -n*"])


def test_golden_values_too_large_for_the_store_are_read_from_the_golden_directory(pytester: pytest.Pytester) -> None:
    """Large values go to goldens/values and are found there wherever the repository is checked out."""
    pytester.makepyfile(
        golden_pipeline="""
        import tracker

        @tracker.step
        def big(n: int) -> list[float]:
            return [float(i) for i in range(n)]
        """
    )
    pytester.makepyfile(
        test_inner_big="""
        import pytest
        import golden_pipeline as pipeline

        @pytest.mark.tracker_goldens("goldens", record=lambda: pipeline.big(20_000), steps=["big"])
        def test_big(tracker_golden):
            assert tracker_golden.execution.custom_properties["tracker_step"] == "big"
            tracker_golden.replay().assert_equal()
        """
    )
    pytester.runpytest_subprocess("--tracker-refresh-goldens", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert list((pytester.path / "goldens" / "values").rglob("blake3/*/*"))
    (pytester.path / "goldens").rename(pytester.path / "elsewhere")
    (pytester.path / "test_inner_big.py").write_text(
        (pytester.path / "test_inner_big.py").read_text().replace('("goldens"', '("elsewhere"')
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("test", "message"),
    [
        (
            "def test_unmarked(tracker_golden): pass",
            "*uses tracker_golden; mark it with @pytest.mark.tracker_goldens(dir*",
        ),
        (
            "@pytest.mark.tracker_goldens()\ndef test_no_directory(tracker_golden): pass",
            "*use @pytest.mark.tracker_goldens(directory, record=..., steps=...), not *",
        ),
        (
            "@pytest.mark.tracker_goldens('somewhere')\ndef test_no_record(tracker_golden): pass",
            "*--tracker-refresh-goldens: *test_no_record gives no record= to make *somewhere*",
        ),
    ],
)
def test_golden_marker_mistakes_are_collection_errors(pytester: pytest.Pytester, test: str, message: str) -> None:
    """tracker_golden without the marker, a marker without a directory, or refreshing without record=."""
    pytester.makepyfile(test_inner_wrong=f"import pytest\n\n{test}\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--tracker-refresh-goldens")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_importing_the_plugin_loads_no_tracker_machinery() -> None:
    """The plugin module pytest imports in every session costs tracker's two light modules, nothing more."""
    import subprocess
    import sys

    code = (
        "import sys, tracker.testing.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'tracker', 'numpy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tracker', 'tracker.errors', 'tracker.testing', 'tracker.testing.pytest_plugin']"


def test_the_template_is_copied_not_rebuilt(tmp_path: Path) -> None:
    """StoreTemplate builds the schema once; each new store is a copy holding MLMD's schema, empty."""
    from tracker import ArtifactType
    from tracker.testing import StoreTemplate

    template = StoreTemplate(tmp_path)
    built = template.path.stat().st_mtime_ns
    first, second = template.new(tmp_path / "a.sqlite"), template.new(tmp_path / "b.sqlite")
    assert StoreTemplate(tmp_path).path.stat().st_mtime_ns == built
    assert first.get_executions() == second.get_executions() == []
    assert first.put_artifact_type(ArtifactType("Data")) == 10  # after the nine types MLMD seeds
    first.close()
    second.close()
