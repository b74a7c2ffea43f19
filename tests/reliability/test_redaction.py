"""Secrets are recorded redacted: by name, by shape, in every place a value is recorded, on every backend.

The proof is a raw byte search: after recording more than 60 secret shapes through arguments,
``**kwargs``, ``*args``, ``log_params`` (in a step and on a run), run properties, nested dicts and an
exception message, none of their bytes is in any file under the test's directory (SQLite database,
its ``-wal`` before a checkpoint, the value store) nor in any row of a PostgreSQL or MariaDB store.
"""

from __future__ import annotations

import dataclasses
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from databases import fresh_database, table_contents

import tracker
from tracker.errors import ConfigurationError, RedactionConfigError
from tracker.sdk import _redact, _state, runs

MARK = "[REDACTED by tracker:"


def _x(n: int, seed: int) -> str:
    """*n* deterministic alphanumerics, different for each *seed*: no two secrets share bytes by chance."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    out, state = [], seed * 7919 + 104729
    for _ in range(n):
        state = (state * 1103515245 + 12345) % (1 << 31)
        out.append(alphabet[state % len(alphabet)])
    return "".join(out)


def _hex(n: int, seed: int) -> str:
    return "".join("0123456789abcdef"[ord(c) % 16] for c in _x(n, seed))


def _upper(n: int, seed: int) -> str:
    return "".join(c for c in _x(4 * n, seed).upper() if c.isalnum())[:n]


def _pem(kind: str, seed: int) -> tuple[str, str]:
    body = "\n".join(_x(64, seed + i) for i in range(4))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----", _x(64, seed + 1)


#: (name, value, the raw secret that must not be recorded): secrets by their name.
NAMED: list[tuple[str, Any, str]] = [
    (name, f"v{_x(18, i)}", f"v{_x(18, i)}")
    for i, name in enumerate(
        [
            "api_key", "apiKey", "SERVICE_API_KEY", "OPENAI_API_KEY", "x-api-key", "token", "auth_token",
            "access_token", "refresh_token", "hf_token", "GITHUB_TOKEN", "id_token", "slack_bot_token",
            "bearer_token", "secret", "client_secret", "secret_key", "aws_secret_access_key", "password", "passwd",
            "pwd", "db_password", "ROOT_PASSWORD", "passphrase", "db_pass", "credential", "credentials",
            "private_key", "access_key", "AccountKey", "cookie", "session_cookie", "session", "authorization", "auth",
            "oauth", "dsn", "connection_string", "conn_str", "signing_key", "encryption_key", "license_key",
            "webhook_secret", "password2", "smtpPassword", "api_key_value",
        ]
    )
] + [("pin_password", 73519246, "73519246")]  # fmt: skip


def _shapes() -> list[tuple[str, str]]:
    """(value holding a secret, the raw secret): secrets by their shape, under harmless names."""
    github = "ghp_" + _x(36, 1)
    shapes = [
        ("AKIA" + _upper(16, 2), "AKIA" + _upper(16, 2)),
        ("ASIA" + _upper(16, 3), "ASIA" + _upper(16, 3)),
        (f"cloned with {github} today", github),
        ("gho_" + _x(36, 4), "gho_" + _x(36, 4)),
        ("github_pat_" + _x(22, 5) + "_" + _x(59, 6), "github_pat_" + _x(22, 5)),
        ("glpat-" + _x(20, 7), "glpat-" + _x(20, 7)),
        ("xoxb-" + _x(12, 8) + "-" + _x(24, 9), _x(24, 9)),
        ("xoxp-" + _x(12, 10) + "-" + _x(24, 11), _x(24, 11)),
        ("xapp-1-" + _x(30, 12), _x(30, 12)),
        ("sk-proj-" + _x(48, 13), _x(48, 13)),
        ("sk-" + _x(48, 14), _x(48, 14)),
        ("sk-ant-api03-" + _x(90, 15), _x(90, 15)),
        ("sk_live_" + _x(24, 16), _x(24, 16)),
        ("rk_test_" + _x(24, 17), _x(24, 17)),
        ("whsec_" + _x(32, 18), _x(32, 18)),
        ("hf_" + _x(34, 19), _x(34, 19)),
        ("AIza" + _x(35, 20), _x(35, 20)),
        ("ya29." + _x(60, 21), _x(60, 21)),
        ("GOCSPX-" + _x(28, 22), _x(28, 22)),
        ("npm_" + _x(36, 23), _x(36, 23)),
        ("pypi-AgEIcHlwaS5vcmc" + _x(60, 24), _x(60, 24)),
        ("SG." + _x(22, 25) + "." + _x(43, 26), _x(43, 26)),
        ("dop_v1_" + _hex(64, 27), _hex(64, 27)),
        ("shpat_" + _hex(32, 28), _hex(32, 28)),
        ("dapi" + _hex(32, 29), _hex(32, 29)),
        ("gsk_" + _x(52, 30), _x(52, 30)),
        ("r8_" + _x(37, 31), _x(37, 31)),
        ("key-" + _hex(32, 32), _hex(32, 32)),
        ("SK" + _hex(32, 33), _hex(32, 33)),
        ("dp.pt." + _x(43, 34), _x(43, 34)),
        ("AGE-SECRET-KEY-1" + _upper(58, 35), _upper(58, 35)),
        (f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi{_x(30, 36)}.{_x(43, 37)}", _x(30, 36)),
        _pem("RSA ", 40),
        _pem("EC ", 50),
        _pem("OPENSSH ", 60),
        _pem("", 70),
        (f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n{_x(70, 80)}\n-----END PGP PRIVATE KEY BLOCK-----", _x(70, 80)),
        (f"Bearer {_x(40, 81)}", _x(40, 81)),
        (f"curl -H 'Authorization: Bearer {_x(40, 82)}' https://api.example.com", _x(40, 82)),
        (f"Authorization: Basic {_x(28, 83)}=", _x(28, 83)),
        (f"https://alice:{_x(16, 84)}@example.com/repo.git", _x(16, 84)),
        (f"postgresql://app:{_x(16, 85)}@db.internal:5432/prod?sslmode=require", _x(16, 85)),
        (f"mysql+pymysql://root:{_x(16, 86)}@10.0.0.5:3306/ml", _x(16, 86)),
        (f"redis://:{_x(16, 87)}@cache:6379/0", _x(16, 87)),
        (f"mongodb+srv://svc:{_x(16, 88)}@cluster0.example.net/db", _x(16, 88)),
        (f"amqp://guest:{_x(12, 89)}@rabbit:5672/", _x(12, 89)),
        (f"host=db user=app password={_x(16, 90)} dbname=prod", _x(16, 90)),
        (f"Server=tcp:sql.example.com;Database=ml;User ID=app;Pwd={_x(16, 91)};", _x(16, 91)),
        (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={_x(40, 92)}==;", _x(40, 92)),
        (f"https://acct.blob.core.windows.net/c/b.csv?sv=2022-11-02&sig={_x(40, 93)}%3D", _x(40, 93)),
        (f"https://hooks.slack.com/services/T{_upper(8, 94)}/B{_upper(8, 95)}/{_x(24, 96)}", _x(24, 96)),
        (f"https://discord.com/api/webhooks/123456789012/{_x(60, 97)}", _x(60, 97)),
        (f"123456789:AA{_x(33, 98)}", _x(33, 98)),
        (f"python train.py --password {_x(16, 99)} --epochs 3", _x(16, 99)),
        (f"python train.py --api-key={_x(16, 100)} --epochs 3", _x(16, 100)),
        (f'{{"api_key": "{_x(20, 101)}", "lr": 0.1}}', _x(20, 101)),
        (f"Config(token='{_x(20, 102)}', lr=0.1)", _x(20, 102)),
        (f"AWS_SECRET_ACCESS_KEY={_x(40, 103)}", _x(40, 103)),
        (f"https://api.example.com/v1?access_token={_x(24, 104)}&page=2", _x(24, 104)),
        (f"X-Api-Key: {_x(24, 105)}", _x(24, 105)),
    ]
    return shapes


SHAPES = _shapes()

#: Names that look like a secret's to a substring match, and are not: their values are recorded as given.
BENIGN: dict[str, Any] = {
    "max_tokens": 512, "num_tokens": 2048, "token_count": 17, "max_new_tokens": 64, "n_tokens": 3,
    "tokenizer": "bert-base-uncased", "tokenizer_name": "gpt2", "use_cls_token": True, "pad_token": "[PAD]",
    "eos_token": "</s>", "bos_token_id": 1, "special_tokens": "<s>,</s>", "token_type_ids": "0,0,1",
    "passage": "It was a bright cold day in April", "password_min_length": 12, "keyboard": "qwerty",
    "secretary": "Ms Moneypenny", "secretary_id": 7, "author": "ana", "author_name": "Ana", "sort_key": "loss",
    "rng_key": 42, "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "key": "label", "first_pass": 3,
    "secret_name": "prod-db-credentials", "password_file": "/run/secrets/db", "api_key_env": "OPENAI_API_KEY",
    "session_id": 99, "training_session": "morning", "token_budget": 100_000, "auth_type": "oauth2",
    "compass": "north", "bypass_cache": False, "learning_rate": 3e-4,
    "data_path": "/home/ana/project/data/train-2024-01-01.parquet", "model": "resnet50-imagenet",
    "note": "the key to a good token budget: passing tests",
}  # fmt: skip

#: All the raw secrets, for the byte search.
RAW = [raw for _, _, raw in NAMED] + [raw for _, raw in SHAPES]


def test_the_cases_are_many_and_distinct() -> None:
    """More than 60 secret shapes and 20 benign names, and no raw secret is part of the harmless text."""
    assert len(NAMED) + len(SHAPES) >= 60 + 40
    assert len(BENIGN) >= 20
    assert len(set(RAW)) == len(RAW)
    names = [name.lower() for name, _, _ in NAMED]  # MySQL compares property names case-insensitively
    assert len(set(names)) == len(names)
    for raw in RAW:
        assert len(str(raw)) >= 8


@pytest.fixture
def tracked(store_url: str, tmp_path: Path) -> Iterator[tuple[tracker.Store, str]]:
    """Steps and runs record into a fresh store on each backend, with values under tmp_path/values."""
    store = tracker.connect(store_url)
    tracker.configure(store=store, values=str(tmp_path / "values"))
    try:
        yield store, store_url
    finally:
        runs._process_runs.clear()
        _state.reset()
        store.close()


@tracker.step
def configured(lr: float, *args: Any, **kwargs: Any) -> None:
    """A step that receives secrets, logs some, and returns nothing (a returned secret would be an artifact)."""
    for name, value in list(kwargs.items()):
        if name.startswith("log_"):
            tracker.log_params({name[4:]: value})


@tracker.step
def login(api_key: str, password: str = "hunter2-default-pw", *, token: str, retries: int = 3) -> None:
    """A step with secret-named parameters, positional, defaulted and keyword-only."""


@tracker.step
def connect_db(dsn: str) -> None:
    """A step whose exception message carries a DSN with a password."""
    raise ConnectionError(f"could not connect to {dsn}: timeout")


def _record_everything() -> None:
    """Record every secret once, spread over every way a value is recorded."""
    kwargs: dict[str, Any] = {}
    args: list[Any] = []
    run_props: dict[str, Any] = {}
    run_params: dict[str, Any] = {}
    for i, (name, value, _) in enumerate(NAMED):
        where = i % 4
        if where == 0:
            kwargs[name] = value
        elif where == 1:
            kwargs[f"log_{name}"] = value  # logged inside the step
        elif where == 2:
            run_params[name] = value
        else:
            run_props[name] = value
    nested: dict[str, Any] = {"lr": 0.1, "inner": {}}
    for i, (value, _) in enumerate(SHAPES):
        where = i % 6
        if where == 0:
            args.append(value)
        elif where == 1:
            kwargs[f"note_{i}"] = value
        elif where == 2:
            kwargs[f"log_comment_{i}"] = value
        elif where == 3:
            run_params[f"comment_{i}"] = value
        elif where == 4:
            run_props[f"comment_{i}"] = value
        else:
            nested["inner"][f"text_{i}"] = value
    with tracker.run("secrets", properties=run_props):
        configured(0.1, *args, **kwargs)
        login("sk-proj-" + _x(48, 200), token=_x(20, 201))
        login(api_key=_x(20, 202), password=_x(20, 203), token="t" + _x(20, 204))
        with pytest.raises(ConnectionError):
            connect_db(f"postgresql://svc:{_x(16, 205)}@db:5432/x")
        tracker.log_params(run_params)
        tracker.log_params(settings=nested, db_credentials={"user": "ana", "password": _x(16, 206)})
        tracker.log_params(**BENIGN)


EXTRA_RAW = [_x(48, 200), _x(20, 201), _x(20, 202), _x(20, 203), _x(20, 204), _x(16, 205), _x(16, 206),
             "hunter2-default-pw"]  # fmt: skip


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_no_secret_reaches_the_store(tracked: tuple[tracker.Store, str], tmp_path: Path) -> None:
    """Not one raw secret byte is in the database (its files and -wal, or its rows) nor the value store."""
    store, url = tracked
    _record_everything()
    raws = [str(r).encode() for r in [*RAW, *EXTRA_RAW]]
    if store.backend == "sqlite":
        wal = Path(f"{url}-wal")
        assert wal.exists() and wal.stat().st_size > 0  # the records are in the WAL, not checkpointed yet
    files = _files(tmp_path)
    assert any(p.name.endswith(".sqlite") for p in files) or store.backend != "sqlite"
    for path in files:  # the database, its -wal and -shm, the value store
        data = path.read_bytes()
        leaked = [raw.decode() for raw in raws if raw in data]
        assert not leaked, f"{path.name} holds {leaked[:3]}"
    if store.backend != "sqlite":
        rows = repr(table_contents(url)).encode()
        leaked = [raw.decode() for raw in raws if raw in rows]
        assert not leaked, f"the {store.backend} tables hold {leaked[:3]}"
    store.close()
    for path in _files(tmp_path):  # and after the last connection checkpointed the WAL into the database
        data = path.read_bytes()
        assert not [raw for raw in raws if raw in data], path.name


def _records(store: tracker.Store) -> tuple[tracker.Context, dict[str, tracker.Execution]]:
    (context,) = [c for c in store.get_contexts_by_type("Run") if c.name == "secrets"]
    found = {e.type.rsplit(".", 1)[-1]: e for e in store.get_executions()}
    return context, found


def test_redacted_values_carry_the_marker_and_are_listed(tracked: tuple[tracker.Store, str]) -> None:
    """Each redacted value says why, the record lists the redacted names, benign names are untouched."""
    store, _ = tracked
    _record_everything()
    context, found = _records(store)
    execution = found["configured"]
    recorded = {**execution.properties, **execution.custom_properties}
    redacted = set(str(execution.custom_properties["tracker_redacted"]).split(","))
    for i, (name, _, _) in enumerate(NAMED):
        if i % 4 == 0:
            assert recorded[f"kwargs_{name}"] == "[REDACTED by tracker: secret name]"
            assert f"kwargs_{name}" in redacted
        elif i % 4 == 1:
            assert recorded[name] == "[REDACTED by tracker: secret name]" and name in redacted
    for i in range(len(SHAPES)):
        label = f"args_{len([j for j in range(i) if j % 6 == 0])}" if i % 6 == 0 else f"kwargs_note_{i}"
        if i % 6 in (0, 1):
            assert MARK in recorded[label] and label in redacted, (label, recorded[label])
    props = context.custom_properties
    context_redacted = set(str(props["tracker_redacted"]).split(","))
    for name, value in BENIGN.items():
        assert props[name] == value, name
        assert name not in context_redacted
    for i, (name, _, _) in enumerate(NAMED):
        if i % 4 in (2, 3):
            assert props[name] == "[REDACTED by tracker: secret name]" and name in context_redacted
    settings = props["settings"]
    assert isinstance(settings, dict) and settings["lr"] == 0.1
    assert all(MARK in v for v in settings["inner"].values())
    assert props["db_credentials"] == {"user": "[REDACTED by tracker: secret name]",
                                    "password": "[REDACTED by tracker: secret name]"}  # fmt: skip
    assert {"settings", "db_credentials"} <= context_redacted


def test_parameters_of_any_kind_are_redacted(tracked: tuple[tracker.Store, str]) -> None:
    """Positional, defaulted and keyword-only secret parameters; an int keeps its place among the properties."""
    store, _ = tracked
    _record_everything()
    first, second = sorted(store.get_executions_by_type(login.__qualname__), key=lambda e: e.id or 0)
    for execution in (first, second):
        recorded = {**execution.properties, **execution.custom_properties}
        for name in ("api_key", "password", "token"):
            assert recorded[name] == "[REDACTED by tracker: secret name]"
        assert recorded["retries"] == 3
        assert execution.custom_properties["tracker_redacted"] == "api_key,password,token"


def test_an_exception_message_is_recorded_redacted(tracked: tuple[tracker.Store, str]) -> None:
    """A failing step's message keeps its text but not the password of the DSN in it; the caller's is intact."""
    store, _ = tracked
    with tracker.run("failing"), pytest.raises(ConnectionError) as caught:
        connect_db(f"postgresql://svc:{_x(16, 300)}@db:5432/x")
    assert _x(16, 300) in str(caught.value)  # the user's exception is unchanged
    (execution,) = store.get_executions_by_type(connect_db.__qualname__)
    message = execution.custom_properties["tracker_error_message"]
    assert message == "could not connect to postgresql://svc:[REDACTED by tracker: password in URL]@db:5432/x: timeout"
    assert "tracker_error_message" in str(execution.custom_properties["tracker_redacted"])
    assert execution.properties["dsn"] == "postgresql://svc:[REDACTED by tracker: password in URL]@db:5432/x"


def test_the_function_gets_its_real_arguments(tracked: tuple[tracker.Store, str]) -> None:
    """Redaction changes the record only: the step receives and returns what it was given."""
    seen: list[Any] = []

    @tracker.step
    def echo(api_key: str, dsn: str, note: str, **more: Any) -> int:
        seen.append((api_key, dsn, note, more))
        return 1

    given = ("sk-" + _x(40, 400), f"postgresql://u:{_x(12, 401)}@h/db", "AKIA" + _upper(16, 402))
    with tracker.run("echo"):
        assert echo(*given, password=_x(12, 403)) == 1
    assert seen == [(*given, {"password": _x(12, 403)})]


def test_objects_recorded_as_properties_are_checked_by_their_repr(tracked: tuple[tracker.Store, str]) -> None:
    """An object recorded through ``params=`` is recorded by its repr: the secret fields in it are redacted;
    a step with only benign arguments records no tracker_redacted at all."""
    import dataclasses

    store, _ = tracked

    @dataclasses.dataclass
    class Client:
        endpoint: str
        api_key: str

    @tracker.step(params=["client"])
    def call(client: Client, max_tokens: int, tokenizer: str) -> None:
        pass

    with tracker.run("objects"):
        call(Client("https://api.example.com", _x(24, 450)), 256, "gpt2")
        call(None, 128, "bert")  # type: ignore[arg-type]
    first, second = sorted(store.get_executions_by_type(call.__qualname__), key=lambda e: e.id or 0)
    recorded = first.custom_properties["client"]
    assert _x(24, 450) not in recorded and "api_key='[REDACTED by tracker: secret-named field]'" in recorded
    assert "https://api.example.com" in recorded and first.custom_properties["tracker_redacted"] == "client"
    assert "tracker_redacted" not in second.custom_properties
    assert {**second.properties, **second.custom_properties}["tokenizer"] == "bert"


def test_a_url_keeps_everything_but_its_password() -> None:
    """Scheme, user, host, port, database and query stay; only the password goes, under any name."""
    url = f"postgresql://alice:{_x(16, 500)}@db.example.com:5432/prod?sslmode=require"
    expected = "postgresql://alice:[REDACTED by tracker: password in URL]@db.example.com:5432/prod?sslmode=require"
    assert _redact.value("database_url", url) == expected
    assert _redact.value("dsn", url) == expected  # a secret name, but a URL: only its password is secret
    assert _redact.value("dsn", "https://abc123publickey@o1.ingest.sentry.io/1") == MARK + " secret name]"
    assert _redact.value("url", "postgresql://alice@db/prod") == "postgresql://alice@db/prod"
    # a password with "@" in it, and URLs that merely hold "@" and ":"
    assert _redact.scan("mysql://u:p@ss@host/db") == "mysql://u:[REDACTED by tracker: password in URL]@host/db"
    assert _redact.scan("http://host:8080/path?email=a@b.com") == "http://host:8080/path?email=a@b.com"


@pytest.mark.parametrize("name", [name for name, _, _ in NAMED])
def test_secret_names(name: str) -> None:
    """Each secret name is recognised by its words."""
    assert _redact.builtin_secret_name(name)


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_names(name: str) -> None:
    """Names that contain a secret's word as a substring, or count or describe secrets, are not secret."""
    assert not _redact.builtin_secret_name(name)
    assert _redact.value(name, BENIGN[name]) is BENIGN[name]


@pytest.mark.parametrize(("value", "raw"), SHAPES, ids=[f"shape{i}" for i in range(len(SHAPES))])
def test_secret_shapes(value: str, raw: str) -> None:
    """Each shape is found in text under a harmless name, and only the secret part is replaced."""
    recorded = _redact.value("note", value)
    assert raw not in recorded and MARK in recorded


def test_benign_text_is_left_alone() -> None:
    """Ordinary strings (paths, model names, prose with secret-ish words, numbers with colons) are kept."""
    texts = [
        "data/train.csv", "s3://bucket/prefix/part-0001.parquet", "resnet50-imagenet", "max_tokens=512, top_p=0.9",
        "key: value", "tokenizer: bert-base-uncased", "see https://example.com/docs?page=2#top", "12:30:45",
        "the password policy asks for 12 characters", "--epochs 3 --lr 0.01", "a-b-c-d-e-f-g-h-i-j-k-l-m-n",
        "2024-01-01T00:00:00+00:00", "Basic settings apply", "sha256:" + "ab" * 32,
    ]  # fmt: skip
    for text in texts:
        assert _redact.scan(text) is text, text


def test_pathological_text_is_scanned_in_linear_time() -> None:
    """No shape backtracks badly: 100 kB of near-misses scans in milliseconds (bound generous for loaded machines;
    a backtracking pattern takes minutes here)."""
    import time

    for text in ["a-" * 50_000, "sk-" * 33_000, "key=" * 25_000, "http://u:" + "p@" * 50_000, "--password " * 9000,
                 "password='" * 10_000, "-----BEGIN PRIVATE KEY-----" * 4000, ":" * 100_000]:  # fmt: skip
        start = time.perf_counter()
        _redact.scan(text)
        assert time.perf_counter() - start < 10.0, text[:20]


# --- configuration ---


@pytest.fixture
def rules() -> Iterator[None]:
    """Configured redaction rules are forgotten after the test."""
    yield
    _state.reset()


def test_configured_names_patterns_and_exemptions(rules: None) -> None:
    """Names (with wildcards, any case) and patterns are added; exempt names keep their values, still scanned."""
    tracker.configure(redact_names=["internal_id", "corp_*"], redact_patterns=[r"ACME-[0-9]{6}"],
                      unredacted_names=["session"])  # fmt: skip
    assert _redact.value("INTERNAL_ID", 12345) == MARK + " configured name]"
    assert _redact.value("corp_budget", "9 M") == MARK + " configured name]"
    assert _redact.value("ticket", "see ACME-123456 now") == "see [REDACTED by tracker: configured pattern] now"
    assert _redact.value("tag", "ACME-1") == "ACME-1"  # short strings are scanned by configured patterns too
    assert _redact.value("note", "ACME-654321") == MARK + " configured pattern]"
    assert _redact.value("session", "evening") == "evening"
    assert _redact.value("session", "ghp_" + _x(36, 600)) == MARK + " GitHub token]"
    tracker.configure(redact_names=[])  # replaces the names, keeps the rest
    assert _redact.value("internal_id", 12345) == 12345
    assert _redact.value("x", "ACME-000001") == MARK + " configured pattern]"
    _state.reset()
    assert _redact.value("x", "ACME-000001") == "ACME-000001"
    assert _redact.value("session", "evening") == MARK + " secret name]"


def test_configured_rules_apply_to_steps(tracked: tuple[tracker.Store, str], rules: None) -> None:
    """A configured name is redacted in what a step records."""
    store, _ = tracked
    tracker.configure(redact_names=["customer"])

    @tracker.step
    def bill(customer: str, amount: int) -> None:
        pass

    with tracker.run("billing"):
        bill("ACME Corp", 3)
    (execution,) = store.get_executions_by_type(bill.__qualname__)
    assert execution.properties == {"customer": MARK + " configured name]", "amount": 3}
    assert execution.custom_properties["tracker_redacted"] == "customer"


@pytest.mark.parametrize(
    ("option", "given", "says"),
    [
        ("redact_patterns", ["corp-[0-9"], "not a regular expression"),
        ("redact_patterns", ["x*"], "matches empty text"),
        ("redact_patterns", "corp-[0-9]+", "takes a list"),
        ("redact_patterns", [b"bytes"], "as str"),
        ("redact_names", [""], "non-empty strings"),
        ("redact_names", [3], "non-empty strings"),
        ("unredacted_names", "session", "takes a list"),
    ],
)
def test_bad_configuration_is_a_clear_error(rules: None, option: str, given: Any, says: str) -> None:
    """A bad entry raises RedactionConfigError (a ConfigurationError and ValueError) naming it; nothing changes."""
    tracker.configure(redact_names=["kept_name"])
    with pytest.raises(RedactionConfigError, match=re.escape(says)) as caught:
        tracker.configure(**{option: given})
    assert isinstance(caught.value, ConfigurationError) and isinstance(caught.value, ValueError)
    assert caught.value.entry is not None
    assert _redact.value("kept_name", 1) == MARK + " configured name]"  # the earlier rules still hold


# --- store URLs ---


def test_store_urls_never_show_a_password(tmp_path: Path) -> None:
    """repr, url, info() and error messages hide the password, in the userinfo and in ?password=."""
    secret = _x(16, 700)
    with fresh_database("postgresql", tmp_path) as url:  # trust auth on the test server: any password works
        with_password = url.replace("@", f":{secret}@", 1) + f"?password={secret}&application_name=t"
        with tracker.connect(with_password) as store:
            assert secret not in repr(store) and secret not in store.url
            assert secret not in repr(store.info()) and "application_name=t" in store.url
            with tracker.run("r", store=store) as run:
                assert secret not in repr(run) and secret not in repr(run.handle())
            assert secret.encode() not in repr(table_contents(url)).encode()
    for bad in (f"oracle://scott:{secret}@db/x", f"postgresql://u@h:{secret}/db", f"post gres://u:{secret}@h/db"):
        with pytest.raises(ConfigurationError) as caught:
            tracker.connect(bad)
        assert secret not in str(caught.value), bad
    with pytest.raises(Exception) as refused:  # the driver's own error, whatever it is
        tracker.connect(f"postgresql://u:{secret}@127.0.0.1:1/db")
    assert secret not in "".join(traceback.format_exception(refused.value))


def test_the_command_line_never_shows_a_password(tmp_path: Path) -> None:
    """`tracker doctor --store URL` and its errors print the URL without its password."""
    from tracker.cli import cli

    secret = _x(16, 701)
    with fresh_database("postgresql", tmp_path) as url:
        with_password = url.replace("@", f":{secret}@", 1) + f"?password={secret}"
        for args in (["doctor"], ["doctor", "--json"], ["runs"]):
            result = CliRunner().invoke(cli, [*args, "--store", with_password])
            assert result.exit_code == 0, result.output
            assert secret not in result.output
        assert "***" in CliRunner().invoke(cli, ["doctor", "--store", with_password]).output
    result = CliRunner().invoke(cli, ["doctor", "--store", f"oracle://scott:{secret}@db/x"])
    assert result.exit_code != 0 and secret not in result.output
    result = CliRunner().invoke(cli, ["doctor", "--store", f"postgresql://u:{secret}@127.0.0.1:1/db"])
    assert result.exit_code != 0 and result.exception is not None
    assert secret not in result.output + "".join(traceback.format_exception(result.exception))


# --- values recorded as artifacts ---


@dataclasses.dataclass
class Database:
    host: str
    password: str


class Client:
    def __init__(self, token: str) -> None:
        self.endpoint = "https://api.example.com"
        self.token = token


class SecretStr:  # pydantic's name: its instances are secrets whatever they hold
    def __init__(self, value: str) -> None:
        self._value = value


def _holders() -> list[tuple[str, Any, str, str]]:
    """(case, a value that holds a secret, the raw secret, where the reason says it is)."""
    return [
        ("dict", {"lr": 0.1, "api_key": "k" + _x(40, 900)}, "k" + _x(40, 900), "config['api_key']: secret name"),
        ("nested", {"db": Database("db.local", "p" + _x(20, 901))}, "p" + _x(20, 901),
         "config['db']['password']: secret name"),
        ("list", ["a", f"postgresql://u:{_x(16, 902)}@db/x"], _x(16, 902), "config[1]: text shaped like a credential"),
        ("object", Client("t" + _x(30, 903)), "t" + _x(30, 903), "config['token']: secret name"),
        ("class", [SecretStr("s" + _x(24, 904))], "s" + _x(24, 904), "config[0]: a SecretStr"),
        ("key", {f"sk-proj-{_x(40, 905)}": 1}, _x(40, 905), "config[a key]: a key shaped like a credential"),
    ]  # fmt: skip


@pytest.mark.parametrize(("case", "value", "raw", "where"), _holders(), ids=[h[0] for h in _holders()])
def test_a_value_that_holds_a_secret_is_recorded_without_it(
    tracked: tuple[tracker.Store, str], tmp_path: Path, case: str, value: Any, raw: str, where: str
) -> None:
    """An argument recorded as an artifact that holds a secret anywhere in it: the artifact is recorded with no
    value, saying where the secret is (never what), and the secret's bytes are nowhere in the store; the step
    gets its real value; loading the artifact says why it cannot."""
    store, url = tracked
    got: list[Any] = []

    @tracker.step
    def fit(config: Any) -> None:
        got.append(config)

    with tracker.run(f"holds-{case}"):
        fit(value)
    assert got == [value]
    (execution,) = store.get_executions_by_type(fit.__qualname__)
    (event,) = store.get_events_by_execution_ids([int(execution.id or 0)])
    (artifact,) = store.get_artifacts_by_id([event.artifact_id])
    reason = artifact.custom_properties["tracker_unstored_reason"]
    assert reason == f"[REDACTED by tracker: the value holds a secret, {where}]"
    assert artifact.custom_properties["tracker_redacted"] == "value"
    assert not artifact.uri and not artifact.external_id and "tracker_value" not in artifact.custom_properties
    with pytest.raises(tracker.errors.ValueStoreError, match=re.escape(where)):
        tracker.load(artifact)
    _nowhere(store, url, tmp_path, raw)


def _nowhere(store: tracker.Store, url: str, root: Path, raw: str) -> None:
    """*raw* is in no file under *root* (the SQLite database and its -wal, the value store) nor in any row."""
    for path in _files(root):
        assert raw.encode() not in path.read_bytes(), path.name
    if store.backend != "sqlite":
        assert raw not in repr(table_contents(url))


def test_a_returned_value_that_holds_a_secret_is_recorded_without_it(
    tracked: tuple[tracker.Store, str], tmp_path: Path
) -> None:
    """Outputs too: a step that returns a token in a dict returns it unchanged, and records no value for it;
    an output named like a secret is kept out whatever it holds."""
    store, url = tracked
    token = "ghp_" + _x(36, 910)

    @tracker.step(outputs=("profile", "credentials"))
    def log_in() -> tuple[dict[str, str], list[int]]:
        return {"user": "ann", "header": f"Authorization: Bearer {token}"}, [1, 2, 3]

    with tracker.run("returns"):
        assert log_in() == ({"user": "ann", "header": f"Authorization: Bearer {token}"}, [1, 2, 3])
    artifacts = {
        str(e.path[0]): store.get_artifacts_by_id([e.artifact_id])[0]
        for e in store.get_events_by_execution_ids([int(store.get_executions_by_type(log_in.__qualname__)[0].id or 0)])
    }
    assert (
        "profile['header']: text shaped like a credential"
        in artifacts["profile"].custom_properties["tracker_unstored_reason"]
    )
    assert "'credentials': secret name" in artifacts["credentials"].custom_properties["tracker_unstored_reason"]
    _nowhere(store, url, tmp_path, token)


def test_a_value_without_secrets_is_stored_whole(tracked: tuple[tracker.Store, str]) -> None:
    """Benign names and text inside a value leave it alone: it is stored and loads equal."""
    store, _ = tracked

    @tracker.step
    def fit(config: dict[str, Any]) -> None:
        pass

    config = {"max_tokens": 512, "tokenizer": "bpe", "passage": "the password policy asks for 12 characters",
              "key": "abc", "public_key": None, "secret_name": "prod/db", "use_auth": True,
              "rows": list(range(100))}  # fmt: skip
    with tracker.run("benign"):
        fit(config)
    (execution,) = store.get_executions_by_type(fit.__qualname__)
    (event,) = store.get_events_by_execution_ids([int(execution.id or 0)])
    (artifact,) = store.get_artifacts_by_id([event.artifact_id])
    assert "tracker_unstored_reason" not in artifact.custom_properties
    assert tracker.load(artifact) == config


def test_the_scan_of_a_value_is_bounded() -> None:
    """Past its limits (parts, text, depth) the scan stops, and says nothing: documented in docs/secrets.md.
    Cycles end, and arrays and frames are not looked into."""
    np = pytest.importorskip("numpy")
    dsn = f"postgresql://u:{_x(12, 920)}@db/x"
    assert _redact.secret_in([0] * 5 + [dsn]) == "[5]: text shaped like a credential"
    assert _redact.secret_in([0] * _redact.MAX_PARTS + [dsn]) is None
    assert _redact.secret_in(["x" * _redact.MAX_TEXT, dsn]) is None
    deep: Any = dsn
    for _ in range(_redact.MAX_DEPTH + 2):
        deep = [deep]
    assert _redact.secret_in(deep) is None
    cycle: list[Any] = [1]
    cycle.append(cycle)
    assert _redact.secret_in(cycle) is None
    assert _redact.secret_in(np.array([dsn], dtype=object)) is None
