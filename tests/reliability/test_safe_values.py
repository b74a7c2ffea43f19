"""Safe values: nothing is unpickled unless this user's tracker stored it, or the user allows it.

The planted-pickle corpus of issue 8: a pickle that would create a marker file, placed as a new value,
over an existing value, and behind a forged row, is never loaded and the marker never appears; the same
load with ``allow_untrusted=True`` does run it, so the payload is live and only the checks stop it.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from planted import GADGETS, fingerprint, payload, plant, tail

import tracker
from tracker.errors import TrackerWarning, UntrustedValueError, ValueIntegrityError, ValueStoreError
from tracker.sdk import _state
from tracker.sdk.record import INLINE_PROPERTY, INLINE_TYPE_URL
from tracker.testing import replay
from tracker.values import ValueStore, _trust, load_inline
from tracker.values.store import MAC_PROPERTY


@pytest.fixture(autouse=True)
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own key file (none exists until a value is stored)."""
    path = tmp_path / "config" / "tracker" / "values.key"
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(path))
    return path


@pytest.fixture
def tracked(store: tracker.Store, tmp_path: Path) -> Iterator[tuple[tracker.Store, ValueStore]]:
    """A fresh store on each backend and a fresh value directory, the defaults while the test runs."""
    values = ValueStore(tmp_path / "values")
    with _state.defaults(store, values):
        yield store, values
    _state.artifacts.clear()


@tracker.step
def produce(n: int) -> list[float]:
    return [float(i) for i in range(n)]


@tracker.step
def consume(data: list[float]) -> float:
    return sum(data)


SMALL, LARGE = 5, 20_000  # kept inline, in a file (over 64 KiB pickled)


def recorded(store: tracker.Store, values: ValueStore, n: int) -> tracker.Artifact:
    """The artifact of ``produce(n)``'s output, recorded in a run."""
    with tracker.run():
        value = produce(n)
    (found,) = [a for a in store.get_artifacts() if a.external_id == values.fingerprint(value)]
    return found


def forged(store: tracker.Store, data: bytes, values: ValueStore, *, inline: bool, mac: str | None) -> int:
    """An artifact row an attacker inserts for a value they planted: its fingerprint, and a MAC of their choosing."""
    fp = fingerprint(data)
    custom: dict[str, Any] = {"tracker_serializer": "cloudpickle", "tracker_size": len(data)}
    if inline:
        custom[INLINE_PROPERTY] = tracker.ProtoValue(INLINE_TYPE_URL, data)
    if mac is not None:
        custom[MAC_PROPERTY] = mac
    uri = None if inline else values.path_of(fp).as_uri()
    artifact = tracker.Artifact(type="list", uri=uri, external_id=fp, state=tracker.ArtifactState.LIVE,
                                custom_properties=custom)  # fmt: skip
    (artifact_id,) = store.put_artifacts([artifact])
    return artifact_id


# --- placed as a new value ---


@pytest.mark.parametrize("gadget", GADGETS)
def test_a_pickle_placed_as_a_new_value_is_never_loaded(gadget: str, tmp_path: Path) -> None:
    """A payload file under its own fingerprint in the value directory: no MAC of the user's key, no load."""
    values = ValueStore(tmp_path / "values")
    legit = values.put([1.0, 2.0])  # the key exists, and a real MAC to copy
    marker = tmp_path / "marker"
    data = payload(marker, gadget)
    plant(values.root, data)
    for mac in (None, "", legit.mac, "hmac-sha256:" + "0" * 64, "not a mac"):
        with pytest.raises(UntrustedValueError, match=f"value {fingerprint(data)} .*it was not unpickled"):
            values.get(fingerprint(data), mac=mac)
    assert not marker.exists()
    values.get(fingerprint(data), allow_untrusted=True)
    assert marker.exists()  # control: the payload runs when the check is waived


# --- over an existing value ---


def test_a_pickle_written_over_an_existing_value_file_is_never_loaded(tracked: Any, tmp_path: Path) -> None:
    """The file of a recorded value replaced by a payload: the MAC holds, the bytes do not match: refused."""
    store, values = tracked
    artifact = recorded(store, values, LARGE)
    marker = tmp_path / "marker"
    values.path_of(artifact.external_id).write_bytes(payload(marker))
    with pytest.raises(ValueIntegrityError, match=rf"artifact {artifact.id} \(list\): the file .* no longer matches"):
        tracker.load(artifact.id)
    with pytest.raises(ValueIntegrityError, match="no longer matches its fingerprint"):
        tracker.load(artifact.id, allow_untrusted=True)  # allowing untrusted values never skips the bytes check
    assert not marker.exists()


def test_a_pickle_written_over_an_inline_value_is_never_loaded(tracked: Any, tmp_path: Path) -> None:
    """The same for a value kept in its artifact, its bytes replaced in the database."""
    store, values = tracked
    artifact = recorded(store, values, SMALL)
    marker = tmp_path / "marker"
    artifact.custom_properties[INLINE_PROPERTY] = tracker.ProtoValue(INLINE_TYPE_URL, payload(marker))
    store.put_artifacts([artifact])
    with pytest.raises(ValueIntegrityError, match=rf"artifact {artifact.id} \(list\): the inline value no longer"):
        tracker.load(artifact.id)
    assert not marker.exists()


def test_a_pickle_over_an_existing_value_with_its_fingerprint_rewritten_is_never_loaded(
    tracked: Any, tmp_path: Path
) -> None:
    """Bytes and fingerprint both replaced (so they match): the MAC was made for the old fingerprint: refused."""
    store, values = tracked
    large, small = recorded(store, values, LARGE), recorded(store, values, SMALL)
    marker = tmp_path / "marker"
    data = payload(marker)
    large.external_id, large.uri = fingerprint(data), plant(values.root, data).as_uri()
    small.external_id = fingerprint(payload(marker, "eval"))
    small.custom_properties[INLINE_PROPERTY] = tracker.ProtoValue(INLINE_TYPE_URL, payload(marker, "eval"))
    store.put_artifacts([large, small])
    for artifact in (large, small):
        with pytest.raises(UntrustedValueError, match=f"artifact {artifact.id} .*does not verify with your key"):
            tracker.load(artifact.id)
    assert not marker.exists()


# --- behind a forged row ---


def test_a_pickle_behind_a_forged_row_is_never_loaded(tracked: Any, tmp_path: Path) -> None:
    """Rows an attacker inserts for planted payloads (file or inline; no MAC, a made-up one, one copied from
    a real value) never load; the same rows with allow_untrusted=True do run the payload."""
    store, values = tracked
    legit = recorded(store, values, SMALL).custom_properties[MAC_PROPERTY]
    assert isinstance(legit, str)
    marker = tmp_path / "marker"
    ids: list[int] = []
    for i, mac in enumerate([None, "hmac-sha256:" + "ab" * 32, legit]):
        for inline in (False, True):
            data = payload(marker, list(GADGETS)[i * 2 + inline])  # a different payload (fingerprint) each
            if not inline:
                plant(values.root, data)
            ids.append(forged(store, data, values, inline=inline, mac=mac))
    for artifact_id in ids:
        with pytest.raises(UntrustedValueError, match=f"artifact {artifact_id} .*it was not unpickled"):
            tracker.load(artifact_id)
        assert not marker.exists()
    for artifact_id in ids:  # control: each payload is live
        tracker.load(artifact_id, allow_untrusted=True)
        assert marker.exists()
        marker.unlink()


@pytest.mark.parametrize("inline", [False, True], ids=["file", "inline"])
@pytest.mark.parametrize("gadget", GADGETS)
def test_every_gadget_behind_a_forged_record_is_refused(gadget: str, inline: bool, tmp_path: Path) -> None:
    """Whatever the payload calls, the refusal comes first: the checks never look at the bytes' content."""
    values = ValueStore(tmp_path / "values")
    values.put([1.0])
    marker = tmp_path / "marker"
    data = payload(marker, gadget)
    custom: dict[str, Any] = {"tracker_serializer": "cloudpickle"}
    if inline:
        custom[INLINE_PROPERTY] = tracker.ProtoValue(INLINE_TYPE_URL, data)
    artifact = tracker.Artifact(type="list", id=7, external_id=fingerprint(data), custom_properties=custom,
                                uri=None if inline else plant(values.root, data).as_uri())  # fmt: skip
    with pytest.raises(UntrustedValueError, match=r"artifact 7 .*carries no MAC"):
        tracker.load(artifact, values=values)
    assert not marker.exists()
    tracker.load(artifact, values=values, allow_untrusted=True)
    assert marker.exists()


def test_a_replay_never_loads_a_forged_input(tracked: Any, tmp_path: Path) -> None:
    """tracker.testing.replay reads inputs through tracker.load: a forged input is refused, nothing is run."""
    store, _ = tracked
    with tracker.run():
        consume(produce(SMALL))
    (execution,) = store.get_executions_by_type(consume.__qualname__)
    (event,) = [e for e in store.get_events_by_execution_ids([execution.id]) if e.type.name == "INPUT"]  # type: ignore[list-item]
    (artifact,) = store.get_artifacts_by_id([event.artifact_id])
    marker = tmp_path / "marker"
    artifact.external_id = fingerprint(payload(marker))
    artifact.custom_properties[INLINE_PROPERTY] = tracker.ProtoValue(INLINE_TYPE_URL, payload(marker))
    store.put_artifacts([artifact])
    with pytest.raises(ValueIntegrityError, match="does not verify with your key"):
        replay(execution, store=store)
    assert not marker.exists()


# --- values without a MAC: ml-metadata, older tracker versions ---


def test_a_value_without_a_mac_loads_only_when_allowed(tracked: Any, tmp_path: Path) -> None:
    """A value recorded without a MAC (as ml-metadata or an older tracker would) is refused, with how to allow
    it: allow_untrusted=True on tracker.load, or a value store made with it."""
    store, values = tracked
    small, large = recorded(store, values, SMALL), recorded(store, values, LARGE)
    for artifact in (small, large):
        del artifact.custom_properties[MAC_PROPERTY]
    store.put_artifacts([small, large])
    for artifact, n in ((small, SMALL), (large, LARGE)):
        with pytest.raises(UntrustedValueError) as raised:
            tracker.load(artifact.id)
        message = str(raised.value)
        assert message.startswith(f"artifact {artifact.id} (list): value {artifact.external_id} carries no MAC")
        assert "ml-metadata, an older tracker or a forged record" in message and "allow_untrusted=True" in message
        assert tracker.load(artifact.id, allow_untrusted=True) == produce.__wrapped__(n)
        trusting = ValueStore(values.root, allow_untrusted=True)
        assert tracker.load(artifact.id, values=trusting) == produce.__wrapped__(n)
        with _state.defaults(store, trusting):
            assert tracker.load(artifact.id) == produce.__wrapped__(n)


def test_load_inline_needs_the_mac_too(tmp_path: Path) -> None:
    """The module-level load_inline is held to the same rule as tracker.load."""
    stored = ValueStore(tmp_path).put([1, 2], inline_limit=1000)
    assert stored.inline is not None and stored.uri is None
    assert load_inline(stored.inline, stored.fingerprint, mac=stored.mac) == [1, 2]
    with pytest.raises(UntrustedValueError, match="carries no MAC"):
        load_inline(stored.inline, stored.fingerprint)
    assert load_inline(stored.inline, stored.fingerprint, allow_untrusted=True) == [1, 2]


# --- the MAC and the key ---


def test_every_flipped_byte_of_a_mac_or_a_value_is_refused(tmp_path: Path) -> None:
    """100 random one-byte changes of the MAC, and 100 of the value file: each refused, none loaded."""
    values = ValueStore(tmp_path / "values")
    stored = values.put(list(range(30_000)))
    assert stored.mac is not None and stored.uri is not None
    path = values.path_of(stored.fingerprint)
    original = path.read_bytes()
    rng = random.Random(8)
    for _ in range(100):
        i = rng.randrange(len(stored.mac))
        flipped = (
            stored.mac[:i]
            + rng.choice([c for c in "0123456789abcdef:-hmacsX" if c != stored.mac[i]])
            + stored.mac[i + 1 :]
        )
        with pytest.raises(UntrustedValueError, match="does not verify with your key"):
            values.get(stored.fingerprint, mac=flipped)
    for _ in range(100):
        i = rng.randrange(len(original))
        path.write_bytes(original[:i] + bytes([original[i] ^ rng.randrange(1, 256)]) + original[i + 1 :])
        with pytest.raises(ValueIntegrityError, match=f"the file {path} no longer matches its fingerprint"):
            values.get(stored.fingerprint, mac=stored.mac)
    path.write_bytes(original)
    assert values.get(stored.fingerprint, mac=stored.mac) == list(range(30_000))


def test_a_mac_of_another_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: Path) -> None:
    """Values stored with one key do not load with another: no key at all, or a different one."""
    values = ValueStore(tmp_path / "values")
    stored = values.put([3.0])
    other = tmp_path / "other" / "values.key"
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(other))
    with pytest.raises(UntrustedValueError, match=f"has a MAC but there is no key at {other} to check it with"):
        values.get(stored.fingerprint, mac=stored.mac)
    assert not other.exists()  # loading never makes a key
    values.put([4.0])
    with pytest.raises(UntrustedValueError, match=f"does not verify with your key {other}: it was stored with another"):
        values.get(stored.fingerprint, mac=stored.mac)
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(key))
    assert values.get(stored.fingerprint, mac=stored.mac) == [3.0]


def test_the_key_is_made_once_private_and_outside_the_value_store(tmp_path: Path, key: Path) -> None:
    """32 random bytes, 0600, in a 0700 directory made for it; the value directory holds values only."""
    assert not key.exists()
    values = ValueStore(tmp_path / "values")
    first = values.put([1.0], inline_limit=100)
    assert key.stat().st_size == 32 and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not values.root.exists()  # an inline value writes nothing there
    assert values.put([1.0], inline_limit=100).mac == first.mac  # the same key, read once
    assert sorted(p.name for p in key.parent.iterdir()) == ["values.key"]  # no temporary file left


def test_key_files_that_cannot_vouch_are_refused(tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key that is a link, someone else's, readable by others or not 32 bytes: a clear error, no value."""
    values = ValueStore(tmp_path / "values")
    key.parent.mkdir(parents=True)
    real = tmp_path / "real.key"
    real.write_bytes(os.urandom(32))
    real.chmod(0o600)

    def short() -> None:
        key.write_bytes(b"short")
        key.chmod(0o600)

    def shared() -> None:
        key.write_bytes(os.urandom(32))
        key.chmod(0o640)

    cases = {
        short: re.escape("does not hold a tracker key (32 random bytes); delete it"),
        shared: re.escape(
            f"can be read or written by others (mode 0640); whoever reads it can make values tracker "
            f"trusts: chmod 600 {key}"
        ),
        lambda: key.symlink_to(real): f"the key file {re.escape(str(key))} is a symbolic link; tracker reads its key",
    }
    for make, message in cases.items():
        key.unlink(missing_ok=True)
        make()
        with pytest.raises(ValueStoreError, match=message):
            values.put(["a value"])
        with pytest.raises(ValueStoreError, match=message):
            values.get(fingerprint(b"x"), mac="hmac-sha256:" + "0" * 64)
    key.unlink()
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    monkeypatch.setattr(os, "geteuid", lambda: key.stat().st_uid + 1)  # as if another user owned it
    with pytest.raises(
        ValueStoreError, match=rf"belongs to uid {key.stat().st_uid}, not to you .*set TRACKER_KEY_FILE"
    ):
        values.put(["other"])


def test_a_key_file_that_cannot_be_made_or_read_says_where_to_put_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key that cannot be made (a read-only home, say) or read: the message says so and names TRACKER_KEY_FILE."""
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere", target_is_directory=True)  # a directory that is not there
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "gone" / "values.key"))
    values = ValueStore(tmp_path / "values")
    with pytest.raises(ValueStoreError, match=r"cannot create the key file .*values\.key \(FileNotFoundError: "):
        values.put([1])
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "a file" / "values.key"))
    with pytest.raises(ValueStoreError, match=r"cannot read the key file .*; set TRACKER_KEY_FILE to one you can"):
        values.put([1])
    (tmp_path / "dir.key").mkdir()
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "dir.key"))
    with pytest.raises(ValueStoreError, match=r"dir\.key is not a regular file; set TRACKER_KEY_FILE to one"):
        values.put([1])


def test_an_unknown_serializer_is_refused_before_anything_else(tmp_path: Path) -> None:
    """A record naming a serializer tracker does not have: ValueStoreError, whatever the MAC says."""
    values = ValueStore(tmp_path)
    stored = values.put([1], inline_limit=100)
    assert stored.inline is not None
    artifact = tracker.Artifact(type="list", id=3, external_id=stored.fingerprint, custom_properties={
        "tracker_serializer": "dill", MAC_PROPERTY: stored.mac or "",
        INLINE_PROPERTY: tracker.ProtoValue(INLINE_TYPE_URL, stored.inline)})  # fmt: skip
    with pytest.raises(ValueStoreError, match="stored with unknown serializer 'dill'; known: cloudpickle"):
        tracker.load(artifact, values=values, allow_untrusted=True)


def test_a_step_whose_value_cannot_be_signed_records_why(tracked: Any, key: Path) -> None:
    """With no usable key, a step still runs and returns; its output is recorded without a value, and says why."""
    store, _ = tracked
    key.parent.mkdir(parents=True)
    key.write_bytes(b"bad")
    key.chmod(0o600)
    with pytest.warns(TrackerWarning, match="could not be stored .*does not hold a tracker key"), tracker.run():
        assert produce(2) == [0.0, 1.0]
    (artifact,) = store.get_artifacts()
    assert "does not hold a tracker key" in str(artifact.custom_properties["tracker_unstored_reason"])


def _sign(barrier: Any, queue: Any) -> None:
    barrier.wait()
    queue.put(_trust.sign("blake3:" + "0" * 64, "cloudpickle"))


def test_processes_that_make_the_key_at_once_agree_on_it(key: Path) -> None:
    """Four processes storing their first value at the same moment end up with one key, the same MACs."""
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_sign, args=(barrier, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    macs = {queue.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(macs) == 1 and macs == {_trust.sign("blake3:" + "0" * 64, "cloudpickle")}
    assert sorted(p.name for p in key.parent.iterdir()) == ["values.key"]


def test_tail_names_the_file_of_a_fingerprint(tmp_path: Path) -> None:
    """The helper agrees with the value store (so the planted files are where a store would look)."""
    stored = ValueStore(tmp_path).put(list(range(30_000)))
    assert stored.uri is not None and stored.uri.endswith(tail(stored.fingerprint))
