"""Step caching in one process: hits, misses and their reasons, rebuilt results, lineage, invalidation, expiry."""

from __future__ import annotations

import asyncio
import pickle
import time
from pathlib import Path
from typing import Any

import cache_steps as cs
import pytest
from conftest import executions, io

import tracker
from tracker import ExecutionState
from tracker.errors import InvalidArgumentError, TrackerWarning
from tracker.sdk import _state


@pytest.fixture(autouse=True)
def _count() -> None:
    cs.CALLS.clear()


def states(store: tracker.Store, step_type: str) -> list[str]:
    return [e.last_known_state.name for e in executions(store, step_type)]  # type: ignore[union-attr]


def test_a_second_call_with_the_same_arguments_reuses_the_result(tracked: tracker.Store) -> None:
    with tracker.run("r"):
        first = cs.prepare([0.2, 0.6, 0.9], scale=2.0)
        second = cs.prepare([0.2, 0.6, 0.9], scale=2.0)
    assert first == second == [1.2, 1.8]
    assert cs.CALLS == {"prepare": 1}
    assert states(tracked, "prepare") == ["COMPLETE", "CACHED"]
    source, cached = executions(tracked, "prepare")
    assert cached.custom_properties["tracker_cached_from"] == source.id
    assert cached.custom_properties["tracker_cache_key"] == source.custom_properties["tracker_cache_key"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (([0.6], {}), ([0.7], {})),  # an input artifact's content
        (([0.6], {"scale": 2.0}), ([0.6], {"scale": 3.0})),  # a scalar
        (([0.6], {"scale": 1}), ([0.6], {"scale": 1.0})),  # the same number as another type
        (([0.6], {"verbose": False}), ([0.6], {"verbose": True})),  # not ignored here
    ],
)
def test_a_changed_argument_misses(tracked: tracker.Store, first: Any, second: Any) -> None:
    cs.prepare(first[0], **first[1])
    cs.prepare(second[0], **second[1])
    assert cs.CALLS == {"prepare": 2}
    assert states(tracked, "prepare") == ["COMPLETE", "COMPLETE"]


def test_an_ignored_argument_is_left_out_of_the_key(tracked: tracker.Store) -> None:
    assert cs.quiet([1.0, 2.0], verbose=False) == cs.quiet([1.0, 2.0], verbose=True) == 3.0
    assert cs.CALLS == {"quiet": 1}
    cached = executions(tracked, "quiet")[1]
    assert cached.properties["verbose"] is True  # recorded as called, though not in the key
    assert "verbose" not in cached.custom_properties["tracker_cache_parts"]["args"]


def test_a_default_and_an_explicit_equal_argument_share_a_key(tracked: tracker.Store) -> None:
    cs.prepare([0.6])
    cs.prepare([0.6], scale=1.0)
    assert cs.CALLS == {"prepare": 1}


def test_results_of_every_shape_come_back_equal(tracked: tracker.Store) -> None:
    """A NamedTuple, a tuple with a None, a dataclass split by outputs=, None: rebuilt from the outputs."""
    values = [3.0, 1.0, 2.0]
    made = [cs.split(values), cs.split([5.0]), cs.pair(values), cs.report(values), cs.nothing(values)]
    again = [cs.split(values), cs.split([5.0]), cs.pair(values), cs.report(values), cs.nothing(values)]
    assert again == made
    assert [type(x) for x in again] == [cs.Split, cs.Split, tuple, cs.Report, type(None)]
    assert again[1] == cs.Split([], [5.0]) and again[3] == cs.Report(6.0, None)
    assert cs.CALLS == {"split": 2, "pair": 1, "report": 1, "nothing": 1}
    for step in ("split", "pair", "report", "nothing"):
        assert states(tracked, step).count("CACHED") == (2 if step == "split" else 1)


def test_a_cached_call_has_complete_lineage(tracked: tracker.Store) -> None:
    """Inputs, outputs (the same artifacts as the source's), the run, logged params and metrics."""
    with tracker.run("first"):
        cs.fit([1.0, 2.0], lr=0.5)
    with tracker.run("second") as second:
        model = cs.fit([1.0, 2.0], lr=0.5)
    assert model == {"weight": 1.5} and cs.CALLS == {"fit": 1}
    source, cached = executions(tracked, "fit")
    assert cached.last_known_state is ExecutionState.CACHED
    assert cached.properties == {"lr": 0.5} and cached.custom_properties["epochs"] == 3
    was, now = io(tracked, source.id), io(tracked, cached.id)  # type: ignore[arg-type]
    assert [(p, a.id) for p, a in now["INPUT"]] == [(p, a.id) for p, a in was["INPUT"]]
    assert sorted((p, a.id) for p, a in now["OUTPUT"]) == sorted((p, a.id) for p, a in was["OUTPUT"])
    assert {p for p, _ in now["OUTPUT"]} == {"output", "metrics"}
    assert [c.id for c in tracked.get_contexts_by_execution(cached.id)] == [second.context_id]  # type: ignore[arg-type]
    in_run = {a.id for a in tracked.get_artifacts_by_context(second.context_id)}
    assert {a.id for _, a in now["INPUT"] + now["OUTPUT"]} <= in_run
    found = tracker.lineage(model)
    assert found.producer is not None and found.producer.id == cached.id
    assert found.params == {"lr": 0.5, "epochs": 3}  # logged by the body, copied from the source


def test_the_output_passed_on_links_to_the_reused_artifact(tracked: tracker.Store) -> None:
    cs.prepare([0.6, 0.8])
    reused = cs.prepare([0.6, 0.8])
    cs.quiet(reused)
    (consumer,) = executions(tracked, "quiet")
    (source, _) = executions(tracked, "prepare")
    (made,) = [a for p, a in io(tracked, source.id)["OUTPUT"]]  # type: ignore[arg-type]
    assert [a.id for _, a in io(tracked, consumer.id)["INPUT"]] == [made.id]  # type: ignore[arg-type]


def test_async_steps_cache(tracked: tracker.Store) -> None:
    async def twice() -> tuple[list[float], list[float]]:
        return await cs.fetch([2.0, 1.0]), await cs.fetch([2.0, 1.0])

    assert asyncio.run(twice()) == ([1.0, 2.0], [1.0, 2.0])
    assert cs.CALLS == {"fetch": 1} and states(tracked, "fetch") == ["COMPLETE", "CACHED"]


def test_method_steps_cache_and_the_instance_is_in_the_key(tracked: tracker.Store) -> None:
    assert cs.Model(1.0).predict([1.0]) == cs.Model(1.0).predict([1.0]) == [2.0]
    assert cs.Model(5.0).predict([1.0]) == [6.0]
    assert cs.CALLS == {"predict": 2}
    assert states(tracked, "Model.predict") == ["COMPLETE", "CACHED", "COMPLETE"]


def test_a_changed_step_body_misses(tracked: tracker.Store) -> None:
    @tracker.step(name="versioned", cache=True)
    def one(x: int) -> int:
        return x + 1

    assert one(1) == 2 and one(1) == 2

    @tracker.step(name="versioned", cache=True)
    def two(x: int) -> int:
        return x + 2

    assert two(1) == 3  # same step name and arguments, other code: not the old result
    assert states(tracked, "versioned") == ["COMPLETE", "CACHED", "COMPLETE"]
    explained = tracker.explain_cache(two, 1)
    assert explained.hit and explained.execution_id == executions(tracked, "versioned")[2].id


def test_a_changed_helper_constant_misses(tracked: tracker.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    cs.prepare([0.4, 0.6])
    monkeypatch.setattr(cs, "THRESHOLD", 0.3)  # a module-level constant the helper reads
    assert cs.prepare([0.4, 0.6]) == [0.4, 0.6]
    assert cs.CALLS == {"prepare": 2}
    explained = tracker.explain_cache(cs.prepare, [0.4, 0.6])
    assert explained.hit
    monkeypatch.setattr(cs, "THRESHOLD", 0.9)
    explained = tracker.explain_cache(cs.prepare, [0.4, 0.6])
    assert not explained.hit
    assert [(d.component, d.name) for d in explained.differences] == [("code", "cache_steps.THRESHOLD")]


def test_a_redefined_helper_misses(tracked: tracker.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a notebook: the step's module now holds another function under the helper's name."""
    cs.prepare([0.4, 0.6])

    def clean(values: list[float]) -> list[float]:
        return list(values)

    monkeypatch.setattr(cs, "clean", clean)
    assert cs.prepare([0.4, 0.6]) == [0.4, 0.6]
    assert cs.CALLS == {"prepare": 2}


def test_an_argument_without_a_fingerprint_runs_and_says_why(tracked: tracker.Store) -> None:
    import threading

    lock = threading.Lock()  # cannot be pickled: no fingerprint
    with pytest.warns(TrackerWarning) as caught:
        cs.big(lock)
        cs.big(lock)
    assert cs.CALLS == {"big": 2}
    assert any("ran without its cache" in str(w.message) and "'blob'" in str(w.message) for w in caught)
    for execution in executions(tracked, "big"):
        assert execution.last_known_state is ExecutionState.COMPLETE
        assert "tracker_cache_key" not in execution.custom_properties
        assert "argument 'blob' (lock) has no fingerprint" in execution.custom_properties["tracker_cache_problem"]
    explained = tracker.explain_cache(cs.big, lock)
    assert not explained.hit and "not cacheable" in explained.reason and "Cache(ignore=['blob'])" in explained.reason


def test_a_deleted_output_value_misses_and_says_why(tracked: tracker.Store, tmp_path: Path) -> None:
    first = cs.large_output(400)  # 100 kB: a file in the value store, not inline
    (source,) = executions(tracked, "large_output")
    (artifact,) = [a for _, a in io(tracked, source.id)["OUTPUT"]]  # type: ignore[arg-type]
    path = Path(artifact.uri.removeprefix("file://"))  # type: ignore[union-attr]
    path.unlink()
    assert cs.large_output(400) == first
    assert cs.CALLS == {"large_output": 2}
    rerun = executions(tracked, "large_output")[1]
    assert rerun.last_known_state is ExecutionState.COMPLETE
    miss = rerun.custom_properties["tracker_cache_miss"]
    assert f"execution {source.id} has this key, but its output 'output' cannot be loaded" in miss
    assert path.exists()  # the rerun stored it again
    assert cs.large_output(400) == first and cs.CALLS == {"large_output": 2}


def test_a_tampered_output_value_misses_and_is_never_loaded(tracked: tracker.Store) -> None:
    cs.large_output(400)
    (source,) = executions(tracked, "large_output")
    (artifact,) = [a for _, a in io(tracked, source.id)["OUTPUT"]]  # type: ignore[arg-type]
    path = Path(artifact.uri.removeprefix("file://"))  # type: ignore[union-attr]
    path.chmod(0o600)
    path.write_bytes(pickle.dumps(b"something else"))
    explained = tracker.explain_cache(cs.large_output, 400)
    assert not explained.hit and "no longer matches its fingerprint" in explained.reason
    assert cs.large_output(400) == bytes(range(256)) * 400
    assert cs.CALLS == {"large_output": 2}
    assert "no longer matches its fingerprint" in executions(tracked, "large_output")[1].custom_properties[
        "tracker_cache_miss"]  # fmt: skip


def test_an_output_marked_deleted_is_not_reused(tracked: tracker.Store) -> None:
    cs.prepare([0.6])
    (source,) = executions(tracked, "prepare")
    (artifact,) = [a for _, a in io(tracked, source.id)["OUTPUT"]]  # type: ignore[arg-type]
    artifact.state = tracker.ArtifactState.DELETED
    tracked.put_artifacts([artifact])
    cs.prepare([0.6])
    assert cs.CALLS == {"prepare": 2}
    assert "its output 'output' is DELETED" in executions(tracked, "prepare")[1].custom_properties["tracker_cache_miss"]


def test_a_failed_call_is_never_reused(tracked: tracker.Store) -> None:
    attempts: list[int] = []

    @tracker.step(name="flaky", cache=True)
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")
        return x

    with pytest.raises(RuntimeError, match="first try fails"):
        flaky(1)
    assert flaky(1) == 1 and flaky(1) == 1
    assert states(tracked, "flaky") == ["FAILED", "COMPLETE", "CACHED"]


def test_results_expire(tracked: tracker.Store) -> None:
    cs.short_lived([1.0])
    cs.short_lived([1.0])
    assert cs.CALLS == {"short_lived": 1}
    time.sleep(0.25)  # max_age is 0.2 s
    explained = tracker.explain_cache(cs.short_lived, [1.0])
    assert not explained.hit and "older than max_age" in explained.reason
    cs.short_lived([1.0])
    assert cs.CALLS == {"short_lived": 2}


def test_invalidating_a_step_forgets_its_results_but_keeps_the_records(tracked: tracker.Store) -> None:
    cs.prepare([0.6])
    cs.prepare([0.7])
    cs.quiet([1.0])
    assert tracker.invalidate_cache(cs.prepare) == 2
    assert tracker.invalidate_cache("prepare") == 0  # nothing left to forget
    explained = tracker.explain_cache(cs.prepare, [0.6])
    assert not explained.hit and "invalidated" in explained.reason
    cs.prepare([0.6])
    cs.quiet([1.0])
    assert cs.CALLS == {"prepare": 3, "quiet": 1}  # another step's cache is untouched
    first = executions(tracked, "prepare")[0]
    assert "tracker_cache_key" not in first.custom_properties
    assert first.custom_properties["tracker_cache_invalidated_key"]
    assert len(io(tracked, first.id)["OUTPUT"]) == 1  # type: ignore[arg-type]


def test_a_salt_and_a_key_function_join_the_key(tracked: tracker.Store) -> None:
    cs.salted([1.0])
    version = {"table": 1}

    @tracker.step(name="salted", cache=tracker.Cache(salt="v2"))
    def resalted(values: list[float]) -> float:
        return sum(values) * 2

    explained = tracker.explain_cache(resalted, [1.0])
    assert not explained.hit
    found = {(d.component, d.name, d.before, d.after) for d in explained.differences}
    assert ("salt", "salt", "v1", "v2") in found
    assert ("code", "cache_steps.salted", found_digest(explained, "cache_steps.salted"), None) in found

    @tracker.step(cache=tracker.Cache(key=lambda values: version["table"]))
    def keyed(values: list[float]) -> float:
        return sum(values)

    keyed([1.0])
    keyed([1.0])
    version["table"] = 2
    keyed([1.0])
    step_type = "test_a_salt_and_a_key_function_join_the_key.<locals>.keyed"
    assert states(tracked, step_type) == ["COMPLETE", "CACHED", "COMPLETE"]


def found_digest(explained: tracker.CacheExplanation, name: str) -> str | None:
    return next(d.before for d in explained.differences if d.name == name)


def test_a_key_function_that_fails_leaves_the_call_uncached(tracked: tracker.Store) -> None:
    @tracker.step(name="badkey", cache=tracker.Cache(key=lambda values: 1 / 0))
    def badkey(values: list[float]) -> float:
        return sum(values)

    with pytest.warns(TrackerWarning, match="the cache key function raised ZeroDivisionError"):
        assert badkey([1.0]) == 1.0

    @tracker.step(name="oddkey", cache=tracker.Cache(key=lambda values: object()))
    def oddkey(values: list[float]) -> float:
        return sum(values)

    with pytest.warns(TrackerWarning, match="the cache key function returned object"):
        assert oddkey([1.0]) == 1.0


def test_the_key_pickles_a_large_input_once(tracked: tracker.Store) -> None:
    """The fingerprint the input artifact is stored under is the key's; a hit pickles the input once, to verify."""
    Counted.pickled = 0
    blob = Counted(b"x" * 2_000_000)
    cs.big(blob)
    assert Counted.pickled == 1
    cs.big(blob)  # linked by identity, fingerprinted again: it may have changed in place
    assert Counted.pickled == 2 and cs.CALLS == {"big": 1}
    blob.data = b"y" * 2_000_000  # changed in place: a new artifact, a miss
    cs.big(blob)
    assert cs.CALLS == {"big": 2}


class Counted:
    pickled = 0

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> Any:
        Counted.pickled += 1
        return (Counted, (self.data,))


def test_the_project_default_and_the_environment_switch(
    tracked: tracker.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    cs.undecided([1.0])
    cs.undecided([1.0])
    assert cs.CALLS == {"undecided": 2}  # no default: not cached
    tracker.configure(cache=True)
    cs.undecided([1.0])
    cs.undecided([1.0])
    assert cs.CALLS == {"undecided": 3}
    monkeypatch.setenv("TRACKER_CACHE", "0")  # off for every step, even cache=True ones
    cs.undecided([1.0])
    cs.prepare([0.6])
    cs.prepare([0.6])
    assert cs.CALLS == {"undecided": 4, "prepare": 2}
    assert not tracker.explain_cache(cs.prepare, [0.6]).hit
    monkeypatch.setenv("TRACKER_CACHE", "1")
    tracker.configure(cache=False)
    cs.undecided([1.0])
    assert cs.CALLS["undecided"] == 5  # the project said False: the variable turns on only where nothing is said
    assert _state.cache_default() is False


def test_disabled_tracking_runs_the_body(tracked: tracker.Store) -> None:
    from tracker.testing import no_tracking

    cs.prepare([0.6])
    with no_tracking():
        cs.prepare([0.6])
    assert cs.CALLS == {"prepare": 2}


def test_explain_names_the_argument_and_a_hit(tracked: tracker.Store) -> None:
    assert tracker.explain_cache(cs.prepare, [0.6]).reason == "no earlier call of step 'prepare' recorded a cache key"
    cs.prepare([0.6], scale=2.0)
    explained = tracker.explain_cache(cs.prepare, [0.6], scale=3.0)
    assert not explained.hit
    assert [str(d) for d in explained.differences] == ["argument scale: changed"]
    assert "argument scale: changed" in str(explained)
    hit = tracker.explain_cache(cs.prepare, [0.6], 2.0)
    assert hit.hit and str(hit).startswith("hit: execution")
    assert cs.CALLS == {"prepare": 1}  # explaining runs nothing
    assert len(executions(tracked, "prepare")) == 1  # and records nothing
    off = tracker.explain_cache(cs.undecided, [1.0])
    assert not off.hit and "caching is off" in off.reason


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: tracker.Cache(salt=3), "Cache(salt=...) takes text"),  # type: ignore[arg-type]
        (lambda: tracker.Cache(max_age=-1), "must be a positive timedelta or seconds"),
        (lambda: tracker.Cache(key="name"), "takes a function of the step's arguments"),  # type: ignore[arg-type]
        (lambda: tracker.step(cache=tracker.Cache(ignore=["nope"]))(lambda x: x), "names nope"),
        (lambda: tracker.step(cache="yes")(lambda x: x), "cache= takes True, False, None"),  # type: ignore[call-overload]
        (lambda: tracker.configure(cache=1), "cache= takes True, False, None"),
        (lambda: tracker.explain_cache(len, [1]), "explain_cache takes a @tracker.step function"),
        (lambda: tracker.explain_cache(cs.prepare, nope=1), "cannot be called with these arguments"),
        (lambda: tracker.invalidate_cache(3), "takes a @tracker.step function or a step name"),
    ],
)
def test_bad_cache_settings_are_refused(tracked: tracker.Store, make: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_a_generator_step_cannot_be_cached() -> None:
    with pytest.raises(InvalidArgumentError, match="generator steps are not cached"):

        @tracker.step(cache=True)
        def stream(n: int) -> Any:
            yield from range(n)


def test_a_generator_step_ignores_the_project_default(tracked: tracker.Store) -> None:
    @tracker.step(name="stream")
    def stream(n: int) -> Any:
        yield from range(n)

    tracker.configure(cache=True)
    assert list(stream(2)) == list(stream(2)) == [0, 1]
    assert states(tracked, "stream") == ["COMPLETE", "COMPLETE"]


def test_the_command_explains_a_call_and_clears_a_step(tracked: tracker.Store) -> None:
    import json

    from click.testing import CliRunner

    from tracker.cli import cli

    cs.prepare([0.6], scale=2.0)
    cs.prepare([0.6], scale=2.0)
    cs.prepare([0.6], scale=3.0)
    first, cached, rerun = executions(tracked, "prepare")

    def invoke(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*args, "--store", tracked.url, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    assert invoke("cache", "explain", str(cached.id)) == {
        "execution_id": cached.id, "hit": True, "reason": f"it reused the outputs of execution {first.id}",
        "key": first.custom_properties["tracker_cache_key"], "compared_with": first.id, "differences": []}  # fmt: skip
    explained = invoke("cache", "explain", str(rerun.id))
    assert not explained["hit"] and explained["compared_with"] == cached.id
    assert [(d["component"], d["name"]) for d in explained["differences"]] == [("argument", "scale")]
    assert not invoke("cache", "explain", str(first.id))["hit"]
    assert invoke("cache", "clear", "prepare", "--dry-run") == {"step": "prepare", "dry_run": True, "forgotten": 2}
    assert invoke("cache", "clear", "prepare")["forgotten"] == 2
    assert invoke("cache", "clear", "prepare")["forgotten"] == 0
    text = CliRunner().invoke(cli, ["cache", "explain", str(rerun.id), "--store", tracked.url])
    assert text.exit_code == 0 and text.output.startswith("miss: the key differs") and "argument scale" in text.output
    missing = CliRunner().invoke(cli, ["cache", "explain", "999999", "--store", tracked.url])
    assert missing.exit_code == 1 and "no execution with id 999999" in missing.output


def test_a_secret_argument_is_in_the_key_but_not_guessable_from_it(tracked: tracker.Store) -> None:
    import hashlib

    @tracker.step(name="connect", cache=True)
    def connect(table: str, password: str) -> int:
        return len(table)

    connect("users", password="hunter2")
    connect("users", password="hunter2")
    connect("users", password="hunter3")
    assert states(tracked, "connect") == ["COMPLETE", "CACHED", "COMPLETE"]
    first = executions(tracked, "connect")[0]
    assert first.properties["password"].startswith("[REDACTED by tracker")
    parts = first.custom_properties["tracker_cache_parts"]["args"]
    plain = hashlib.sha256(b"str:'hunter2'").hexdigest()[:32]
    assert parts["password"].startswith("keyed:") and plain not in str(first.custom_properties)
    assert parts["table"] == hashlib.sha256(b"str:'users'").hexdigest()[:32]
