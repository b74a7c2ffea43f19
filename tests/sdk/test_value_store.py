"""The value store behind artifacts: stored once per content, atomic, verified before loading."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import executions, io

import tracker
from tracker.errors import ValueIntegrityError, ValueStoreError
from tracker.values import ValueStore


def test_equal_content_is_stored_once(tmp_path: Path) -> None:
    """Two equal values make one file; the fingerprint is the BLAKE3 hash of the serialized bytes."""
    values = ValueStore(tmp_path)
    first, second = values.put({"a": [1, 2]}), values.put({"a": [1, 2]})
    assert first == second and first.fingerprint.startswith("blake3:")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [values.path_of(first.fingerprint)] and first.size == files[0].stat().st_size
    assert first.mac is not None and first.mac.startswith("hmac-sha256:")
    assert values.get(first.fingerprint, mac=first.mac) == {"a": [1, 2]}


def test_a_value_that_cannot_be_serialized_leaves_no_file(tmp_path: Path) -> None:
    """A failed write removes its temporary file."""
    values = ValueStore(tmp_path)
    with pytest.raises(TypeError):
        values.put(x for x in ())  # a generator object cannot be pickled
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    """A stored file whose bytes changed is not unpickled: ValueIntegrityError."""
    values = ValueStore(tmp_path)
    stored = values.put([1, 2, 3])
    path = values.path_of(stored.fingerprint)
    path.write_bytes(path.read_bytes().replace(b"\x03", b"\x04"))
    with pytest.raises(ValueIntegrityError, match="no longer matches its fingerprint"):
        values.get(stored.fingerprint, mac=stored.mac)


def test_missing_values_and_bad_fingerprints(tmp_path: Path) -> None:
    """A fingerprint that is not stored, or not a fingerprint at all, raises ValueStoreError."""
    values = ValueStore(tmp_path)
    with pytest.raises(ValueStoreError, match="no stored value"):
        values.get("blake3:" + "0" * 64, allow_untrusted=True)
    with pytest.raises(ValueStoreError, match="not a tracker fingerprint"):
        values.get("blake3:../../etc/passwd")
    with pytest.raises(ValueStoreError, match="unknown serializer"):
        ValueStore(tmp_path, serializer="yaml")


@tracker.step
def widen(values: list[float], n: int) -> list[float]:
    return values * n


def test_load_follows_the_artifact_to_its_value(tracked: tracker.Store) -> None:
    """tracker.load takes an Artifact or an id: small values come from the store itself, large from files."""
    with tracker.run():
        widen([1.0, 2.0], 1)
        widen([1.0, 2.0], 20_000)  # about 180 kB serialized: a file
    small, large = (io(tracked, e.id)["OUTPUT"][0][1] for e in executions(tracked, "widen"))  # type: ignore[arg-type]
    assert small.uri is None and isinstance(small.custom_properties["tracker_value"], tracker.ProtoValue)
    assert large.uri is not None and large.uri.startswith("file://") and "tracker_value" not in large.custom_properties
    assert tracker.load(small) == [1.0, 2.0]
    assert tracker.load(large.id, store=tracked) == [1.0, 2.0] * 20_000  # type: ignore[arg-type]
    with pytest.raises(ValueStoreError, match="no artifact with id 9999"):
        tracker.load(9999, store=tracked)


def test_load_refuses_changed_values(tracked: tracker.Store) -> None:
    """A value whose inline bytes or file changed after it was stored raises ValueIntegrityError, unpickled."""
    with tracker.run():
        widen([3.0], 1)
        widen([3.0], 20_000)
    small, large = (io(tracked, e.id)["OUTPUT"][0][1] for e in executions(tracked, "widen"))  # type: ignore[arg-type]
    kept = small.custom_properties["tracker_value"]
    small.custom_properties["tracker_value"] = tracker.ProtoValue(
        kept.type_url, kept.value[:-1] + bytes([kept.value[-1] ^ 1])
    )  # type: ignore[union-attr]
    with pytest.raises(ValueIntegrityError, match="inline value no longer matches"):
        tracker.load(small)
    Path(large.uri.removeprefix("file://")).write_bytes(b"not a pickle")  # type: ignore[union-attr]
    with pytest.raises(ValueIntegrityError, match="no longer matches its fingerprint"):
        tracker.load(large)


@tracker.step
def summed(rows: list[float]) -> float:
    return sum(rows)


def test_code_and_environment_are_recorded(tracked: tracker.Store) -> None:
    """Python, platform, host, the versions of packages the step's module imports, and the git commit."""
    with tracker.run():
        summed([1.0])
    facts = executions(tracked, "summed")[0].custom_properties
    assert facts["tracker_python"] == ".".join(map(str, sys.version_info[:3]))
    assert facts["tracker_module"] == __name__ and facts["tracker_function"] == "summed"
    assert facts["tracker_packages"]["pytest"] == pytest.__version__  # this module imports pytest
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
    if head.returncode == 0:  # the tests run from a git checkout in CI and here
        assert facts["tracker_git_commit"] == head.stdout.strip()
        assert isinstance(facts["tracker_git_dirty"], bool)


def test_the_default_value_root_follows_tracker_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TRACKER_VALUES names the value directory when none is given."""
    monkeypatch.setenv("TRACKER_VALUES", str(tmp_path / "vals"))
    assert ValueStore().root == tmp_path / "vals"
    monkeypatch.delenv("TRACKER_VALUES")
    monkeypatch.chdir(tmp_path)
    assert ValueStore().root == Path(os.getcwd()) / ".tracker" / "values"


@tracker.step
def big(n: int) -> Any:
    import numpy as np

    return np.arange(n, dtype="float64")


def test_a_large_array_is_stored_in_one_pass_and_not_kept_alive(tracked: tracker.Store) -> None:
    """A 40 MB array is written without a second copy in memory, loads back equal, and is not cached alive."""
    import gc
    import tracemalloc
    import weakref

    import numpy as np

    with tracker.run():
        tracemalloc.start()
        array = big(5_000_000)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert array.nbytes == 40_000_000 and peak < array.nbytes * 1.2  # the array itself, no copy
    ((_, artifact),) = io(tracked, executions(tracked, "big")[0].id)["OUTPUT"]  # type: ignore[arg-type]
    assert artifact.custom_properties["shape"] == "(5000000,)" and artifact.custom_properties["dtype"] == "float64"
    assert np.array_equal(tracker.load(artifact), array)
    alive = weakref.ref(array)
    del array
    gc.collect()
    assert alive() is None


def test_storing_known_large_content_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A value over the in-memory limit whose content is stored already leaves only the one file."""
    values = ValueStore(tmp_path)
    values.put(bytes(3_000_000))
    values.put(bytes(3_000_000))
    assert [p.name for p in tmp_path.iterdir()] == ["blake3"]


@tracker.step
def make() -> list[int]:
    return [1, 2, 3]


@tracker.step
def total(xs: list[int]) -> int:
    return sum(xs)


def test_a_value_changed_in_place_is_a_new_artifact(tracked: tracker.Store) -> None:
    """A small value appended to after a step returned it is not linked to its old artifact."""
    with tracker.run():
        xs = make()
        total(xs)
        xs.append(100)
        total(xs)
    made = io(tracked, executions(tracked, "make")[0].id)["OUTPUT"][0][1]  # type: ignore[arg-type]
    first, second = (io(tracked, e.id)["INPUT"][0][1] for e in executions(tracked, "total"))  # type: ignore[arg-type]
    assert first.id == made.id and second.id != made.id
    assert tracker.load(second) == [1, 2, 3, 100]
