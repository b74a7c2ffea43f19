"""Artifact URIs cannot lead outside the value store's root.

A value is read by its fingerprint below a root the caller knows; the artifact's URI must be exactly
what tracker writes for that fingerprint. Over 200 crafted URIs (traversal in every encoding, other
schemes and hosts, absolute paths elsewhere, NUL bytes, backslashes, fragments, overlong names) each
point at a planted pickle outside the root, signed with the user's own key (the worst case: only the
URI check stands in the way). Each is refused with ValuePathError before any file is opened (an audit
hook sees no open), nothing outside the root is opened (inotify), and the pickle never runs. Symbolic
links below the root are refused when reading and when writing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from databases import BACKENDS, fresh_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planted import Watch, fingerprint, opens, payload, plant, tail

import tracker
from tracker.errors import ValuePathError, ValueStoreError
from tracker.sdk import _state
from tracker.values import ValueStore, _trust
from tracker.values._paths import root_of_uri
from tracker.values.store import MAC_PROPERTY, names_of

# --- the corpus: templates with <R> (the value store's root), <O> (a directory beside it), <T> (blake3/xx/digest)

DOTDOTS = ["..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%2E.", "%252e%252e", "%25252e%25252e", "%c0%ae%c0%ae",
           "%e0%80%ae%e0%80%ae", "%c0%2e%c0%2e", "%uff0e%uff0e", "%ef%bc%8e%ef%bc%8e", "..%00", ".%00.",
           "..."]  # fmt: skip
SEPARATORS = ["/", "%2f", "%2F", "%252f", "\\", "%5c", "%5C", "//", "/./"]
PREFIXES = ["file://", "file:", "file:/", "file:////", "FILE://", "File://", "file://localhost", "file://127.0.0.1",
            "file://attacker.example", "file:///./"]  # fmt: skip
TARGETS = ["<O>/<T>", "/etc/passwd", "/proc/self/root<O>/<T>", "/proc/self/cwd/<O>/<T>", "/dev/zero", "/<T>",
           "<O>/target", "<R>/../outside/<T>"]  # fmt: skip
SCHEMES = ["http://", "https://", "s3://bucket", "gs://bucket", "ftp://host", "smb://host/share", "hdfs://namenode",
           "data:,", "jar:file://", "zip:file://", "\\\\?\\", "\\\\server\\share", "C:", "c:\\", "", "//", "./",
           "../", "blake3:"]  # fmt: skip
SUFFIXES = ["#", "#/../../outside/<T>", "?", "?path=../../outside/<T>", "%00", "%00.pkl", "\x00",
            "\x00/../../outside/<T>", ";type=a", "/.", "/..", "/", "%2f..", "\n", "\r\n", " ", "\t", "%0a", "..",
            "/%2e%2e", "%20"]  # fmt: skip
OTHERS = [
    "file://<R>/\uff0e\uff0e/outside/<T>",  # fullwidth dots, raw
    "file://<R>\uff0f..\uff0foutside/<T>",  # fullwidth solidus, raw
    "file://<R>/..\u2215outside/<T>",  # division slash, raw
    "file://<R>/%e2%88%95..%e2%88%95outside/<T>",
    "file://<R>/" + "a" * 256 + "/../../outside/<T>",  # a name over 255 bytes
    "file://<R>/" + "%61" * 256 + "/../../outside/<T>",
    "file://" + "/a" * 2100 + "<O>/<T>",  # a path over 4096 bytes
    "file://<R>/<T>" + "/x" * 5000,  # a URI over 8192 characters
    "file://<R>/" + "../" * 40 + "<O>/<T>",
    "file://<R>/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "file://<R>/blake3/../../outside/<T>",
    "file://<R>/<T>/../../../../outside/<T>",
    "file://<R>/%00/../outside/<T>",
    "file://<R>/\x00/../outside/<T>",
]
CORPUS = list(dict.fromkeys(
    [f"file://<R>{sep}{dotdot}{sep}outside/<T>" for dotdot in DOTDOTS for sep in SEPARATORS]
    + [prefix + target for prefix in PREFIXES for target in TARGETS]
    + [scheme + "<R>/<T>" for scheme in SCHEMES]
    + ["file://<R>/<T>" + suffix for suffix in SUFFIXES]
    + OTHERS
))  # fmt: skip


def render(template: str, root: Path, outside: Path, fp: str) -> str:
    return template.replace("<R>", str(root)).replace("<O>", str(outside)).replace("<T>", tail(fp))


def test_the_corpus_is_large_and_never_the_real_uri() -> None:
    """At least 200 distinct crafted URIs, none of them the URI tracker writes."""
    assert len(CORPUS) >= 200
    assert "file://<R>/<T>" not in CORPUS


@dataclass
class World:
    """A value store with a real value, and beside it a planted pickle that the crafted URIs point at."""

    values: ValueStore
    outside: Path
    marker: Path
    data: bytes
    fp: str
    mac: str
    key: Path

    def artifact(self, uri: str, artifact_id: int = 1) -> tracker.Artifact:
        """A forged record of the planted pickle, with *uri* and a MAC that verifies (the worst case)."""
        custom = {"tracker_serializer": "cloudpickle", MAC_PROPERTY: self.mac}
        return tracker.Artifact(type="list", id=artifact_id, uri=uri, external_id=self.fp, custom_properties=custom)

    def watch(self) -> Watch:
        return Watch([self.outside, self.outside / "blake3", (self.outside / tail(self.fp)).parent])


def _world(base: Path, data: bytes | None = None) -> World:
    values = ValueStore(base / "values")
    values.put(list(range(30_000)))  # the root and its directories exist, as in use
    marker = base / "marker"
    data = data if data is not None else payload(marker)
    fp = fingerprint(data)
    outside = base / "outside"
    plant(outside, data)
    (outside / "target").write_text("not to be read")
    return World(values, outside, marker, data, fp, _trust.sign(fp, "cloudpickle"), base / "key")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One layout for the whole corpus; the planted pickle's root is not a value store in use."""
    base = tmp_path_factory.mktemp("containment")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(_trust.KEY_ENV_VAR, str(base / "key"))
        made = _world(base)
        with tracker.connect(str(base / "db.sqlite")) as store, _state.defaults(store, made.values):
            yield made


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A layout of this test's own, the defaults while it runs."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    made = _world(tmp_path)
    with tracker.connect(str(tmp_path / "db.sqlite")) as store, _state.defaults(store, made.values):
        yield made


def test_the_planted_pickle_is_live(world: World) -> None:
    """Control: the real URI of the planted file, from a store that is in use there, does run the pickle."""
    outside = ValueStore(world.outside)
    with pytest.raises(ValuePathError, match="which is not a value store in use here"):
        tracker.load(world.artifact((world.outside / tail(world.fp)).as_uri()))
    tracker.load(world.artifact((world.outside / tail(world.fp)).as_uri()), values=outside)
    assert world.marker.exists()
    world.marker.unlink()


@pytest.mark.parametrize("template", CORPUS, ids=[f"{i:03d}" for i in range(len(CORPUS))])
def test_a_crafted_uri_is_refused_before_anything_is_opened(world: World, template: str) -> None:
    """Without values=: ValuePathError naming the artifact, no open at all, nothing outside read, no pickle run."""
    uri = render(template, world.values.root, world.outside, world.fp)
    watch = world.watch()
    try:
        with opens() as opened, pytest.raises(ValuePathError) as raised:
            tracker.load(world.artifact(uri))
        assert opened == [] and watch.events() == []
        message = str(raised.value)
        assert message.startswith("artifact 1 (list): ") and "so nothing was opened" in message
        # values= names the store to read from; the URI must still be one tracker writes, and nothing
        # outside the root is opened whatever it says
        with opens() as opened, pytest.raises(ValueStoreError):
            tracker.load(world.artifact(uri), values=world.values)
        root = str(world.values.root)
        assert [p for p in opened if os.path.isabs(p) and not p.startswith(root) and p != str(world.key)] == []
        assert watch.events() == []
    finally:
        watch.close()
    assert not world.marker.exists()


def test_each_refusal_says_what_is_wrong(world: World) -> None:
    """The reason names the fault: scheme, host, traversal, encodings, separators, NUL, length, location."""
    root, fp = world.values.root, world.fp
    reasons = {
        "http://<R>/<T>": "its scheme is 'http', not 'file'",
        "<R>/<T>": "it has no scheme",
        "file://localhost<R>/<T>": "it names a host, or lacks slashes",
        "file://<R>/../outside/<T>": "it has a '.' or '..' segment (plain or percent-encoded)",
        "file://<R>/%2e%2e/outside/<T>": "it has a '.' or '..' segment",
        "file://<R>/%252e%252e/outside/<T>": "it is percent-encoded twice",
        "file://<R>/..%2foutside/<T>": "a path segment holds an encoded separator",
        "file://<R>\\..\\outside/<T>": "it holds a backslash",
        "file://<R>/<T>\x00": "it holds a NUL character",
        "file://<R>/<T>%00": "a path segment holds an encoded NUL or control character",
        "file://<R>/%c0%ae%c0%ae/<T>": "is not valid UTF-8 once decoded (an overlong or broken encoding)",
        "file://<R>/<T>#x": "it has a query or a fragment",
        "file://<R>//<T>": "it has an empty path segment",
        "file://<R>/a b/<T>": "it holds ' ', which tracker percent-encodes",
        "file://<R>/%zz/<T>": "it has a '%' that is not a percent-encoding",
        "file://<R>/" + "a" * 256 + "/<T>": "a path segment is 256 bytes long, more than 255",
        "file://<R>/<T>" + "/x" * 5000: "characters long, more than 8192",
        "file://<R>/blake3/00/" + "0" * 64: "it does not end in blake3/",
    }
    for template, reason in reasons.items():
        with pytest.raises(ValuePathError) as raised:
            tracker.load(world.artifact(render(template, root, world.outside, fp)))
        assert reason in str(raised.value), template
        assert "is not one tracker writes for value" in str(raised.value)
    with pytest.raises(ValuePathError) as raised:
        tracker.load(world.artifact(render("file://<O>/<T>", root, world.outside, fp)))
    assert str(raised.value) == (
        f"artifact 1 (list): its value is in {world.outside}, which is not a value store in use here ({root}), so "
        f"nothing was opened; if that directory is yours, pass values=tracker.ValueStore('{world.outside}')"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_crafted_uris_stored_in_each_database_are_refused(backend: str, tmp_path: Path, monkeypatch: Any) -> None:
    """The corpus as rows in each database (forged, with MACs that verify): every load by id is refused."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    made = _world(tmp_path)
    rows: list[tracker.Artifact] = []
    for i, template in enumerate(CORPUS):
        data = payload(made.marker, "exec") + bytes(
            [i % 256, i // 256]
        )  # a fingerprint of its own (external ids are unique)
        uri = render(template, made.values.root, made.outside, fingerprint(data))
        if backend != "sqlite" and "\x00" in uri:
            continue  # PostgreSQL and MySQL text columns hold no NUL
        plant(made.outside, data)
        custom = {"tracker_serializer": "cloudpickle", MAC_PROPERTY: _trust.sign(fingerprint(data), "cloudpickle")}
        rows.append(tracker.Artifact(type="list", uri=uri, external_id=fingerprint(data), custom_properties=custom))
    with fresh_database(backend, tmp_path) as url, tracker.connect(url) as store, _state.defaults(store, made.values):
        store.put_artifact_type(tracker.ArtifactType("list"))
        ids = store.put_artifacts(rows)
        assert [a.uri for a in store.get_artifacts_by_id(ids)] == [a.uri for a in rows]  # stored as given
        watch = made.watch()
        try:
            with opens() as opened:
                for artifact_id in ids:
                    with pytest.raises(ValuePathError, match=f"^artifact {artifact_id} \\(list\\): "):
                        tracker.load(artifact_id)
            root = str(made.values.root)
            assert [p for p in opened if os.path.isabs(p) and not p.startswith(root)] == []
            assert watch.events() == []
        finally:
            watch.close()
    assert len(ids) >= 200 and not made.marker.exists()


# --- symbolic links and other files below the root ---


def _link_cases(world: World) -> dict[str, tuple[Path, Path]]:
    """(what is replaced by a link, where the link points), for the value file and each directory above it."""
    names = names_of(world.fp)
    inside = world.values.root.joinpath(*names)
    outside = world.outside.joinpath(*names)
    return {
        "the value file": (inside, outside),
        "its directory": (inside.parent, outside.parent),
        "the blake3 directory": (inside.parent.parent, outside.parent.parent),
    }


@pytest.mark.parametrize("case", ["the value file", "its directory", "the blake3 directory"])
def test_a_link_below_the_root_is_never_followed(fresh: World, case: str) -> None:
    """A symbolic link planted inside the root, pointing at the planted pickle outside: refused, nothing read."""
    link, target = _link_cases(fresh)[case]
    if link.exists():
        os.rename(link, link.with_name(link.name + ".moved"))
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=target.is_dir())
    uri = fresh.values.path_of(fresh.fp).as_uri()  # exactly the URI tracker would write
    watch = fresh.watch()
    try:
        with pytest.raises(ValuePathError, match=rf"{link} is a symbolic link: tracker follows no link below"):
            tracker.load(fresh.artifact(uri))
        with pytest.raises(ValuePathError, match="is a symbolic link"):
            tracker.load(fresh.artifact(uri), allow_untrusted=True)  # containment is never waived
        assert watch.events() == []
    finally:
        watch.close()
    assert not fresh.marker.exists()


def test_a_fifo_or_a_directory_in_place_of_a_value_is_refused(fresh: World) -> None:
    """Not a regular file: refused, and a FIFO does not block the load."""
    path = fresh.values.path_of(fresh.fp)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            tracker.load(fresh.artifact(path.as_uri()))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=load)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock it before failing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join()
        pytest.fail("loading a FIFO blocked")
    (error,) = outcome
    assert isinstance(error, ValuePathError) and f"{path} is not a regular file" in str(error)
    path.unlink()
    path.mkdir()
    with pytest.raises(ValuePathError, match="is not a regular file"):
        tracker.load(fresh.artifact(path.as_uri()))


def test_a_file_in_place_of_a_directory_is_refused(fresh: World) -> None:
    """A regular file where the blake3 directory should be: refused when reading, and when writing."""
    blake3 = fresh.values.root / "blake3"
    os.rename(blake3, fresh.values.root / "moved")
    blake3.write_text("")
    with pytest.raises(ValuePathError, match=rf"{blake3} is not a directory: tracker follows no link below"):
        tracker.load(fresh.artifact(fresh.values.path_of(fresh.fp).as_uri()))
    with pytest.raises(ValuePathError, match=rf"{blake3} is not a directory: tracker writes values only into real"):
        fresh.values.put(list(range(30_001)))


def test_a_root_the_user_made_a_link_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The root itself may be a link: the user chose it. Its values load through it."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    values = ValueStore(tmp_path / "linked")
    stored = values.put(list(range(30_000)))
    assert stored.uri is not None and (tmp_path / "real" / tail(stored.fingerprint)).is_file()
    artifact = tracker.Artifact(type="list", uri=stored.uri, external_id=stored.fingerprint,
                                custom_properties={MAC_PROPERTY: stored.mac or ""})  # fmt: skip
    assert tracker.load(artifact, values=values) == list(range(30_000))
    assert tracker.load(artifact, values=ValueStore(tmp_path / "real")) == list(range(30_000))  # the URI names "linked"
    with _state.defaults(tracker.connect(str(tmp_path / "db.sqlite")), ValueStore(tmp_path / "real")):
        assert tracker.load(artifact) == list(range(30_000))  # the same directory: it is in use


def test_writing_never_follows_a_link_below_the_root(fresh: World) -> None:
    """A linked subdirectory stops the write (nothing lands outside); a link planted as a value file is replaced."""
    values = fresh.values
    value = [float(i) for i in range(30_000)]
    names = names_of(values.fingerprint(value))
    directory = values.root / names[0] / names[1]
    if directory.exists():
        os.rename(directory, directory.with_name(names[1] + ".moved"))
    (fresh.outside / "elsewhere").mkdir()
    directory.symlink_to(fresh.outside / "elsewhere", target_is_directory=True)
    with pytest.raises(ValuePathError, match=rf"{directory} is a symbolic link: tracker writes values only into real"):
        values.put(value)
    assert list((fresh.outside / "elsewhere").iterdir()) == []
    assert not [p for p in values.root.iterdir() if p.name.startswith(".incoming")]  # no temporary file left
    directory.unlink()
    directory.mkdir()
    (directory / names[2]).symlink_to(fresh.outside / "target")
    stored = values.put(value)
    assert not (directory / names[2]).is_symlink() and (fresh.outside / "target").read_text() == "not to be read"
    assert values.get(stored.fingerprint, mac=stored.mac) == value


# --- properties: whatever the URI, a refusal or exactly the file of the fingerprint below a clean root ---

TOKENS = ["file://", "file:", "/", "//", ".", "..", "%2e", "%2E", "%2f", "%25", "%5c", "\\", "%00", "\x00", "a",
          "\u00e9", "%c3%a9", "%c0%ae", " ", "#", "?", ":", "~", "localhost", "<R>", "<O>", "<T>", "blake3", "%41",
          "%"]  # fmt: skip
FP = "blake3:" + "ab" * 32


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=14).map("".join))
def test_an_accepted_uri_names_the_fingerprints_file_below_a_clean_root(template: str) -> None:
    """Built from traversal-prone pieces: any URI accepted is the one Path.as_uri() writes for root/blake3/xx/digest,
    with a root that is absolute, normal (no '.', '..', '//') and free of NUL and backslashes."""
    uri = render(template, Path("/srv/values"), Path("/srv/outside"), FP)
    try:
        root = root_of_uri(uri, names_of(FP))
    except ValuePathError:
        return
    text = str(root)
    assert text.startswith("/") and os.path.normpath(text) == text and "\x00" not in text and "\\" not in text
    assert unquote(root.joinpath(*names_of(FP)).as_uri()) == unquote(uri)


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_uri_or_a_value_path_error(uri: str) -> None:
    """Arbitrary text never makes the check fail otherwise (no UnicodeError, no IndexError...)."""
    try:
        root_of_uri(uri, names_of(FP))
    except ValuePathError as exc:
        assert "is not one tracker writes for value" in str(exc)
