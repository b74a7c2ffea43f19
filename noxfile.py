"""Development sessions: `nox` runs tests (oldest and newest Python), interop, lint and typecheck."""

from __future__ import annotations

import nox

nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests-3.10", "tests-3.13", "pipelines", "interop", "lint", "typecheck", "docs"]

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# ml-metadata 1.17 ships wheels for CPython 3.9-3.11 only; its protobuf pins stay in these sessions.
MLMD = "ml-metadata==1.17.1"
# MLflow pins protobuf (and much else) against ml-metadata's pins: it gets an environment of its own.
# 3.17.2: mlflow 3.18.0 needs an mlflow-skinny 3.18.0 that the package index does not have (yet).
MLFLOW = "mlflow==3.17.2"
NUMPY = "numpy==2.4.6"
# The documentation site (ruff lays out long signatures). Material for MkDocs gets fixes until May 2027;
# Zensical, its successor, reads mkdocs.yml.
DOCS = ["mkdocs==1.6.1", "mkdocs-material==9.8.2", "mkdocstrings[python]==1.0.8", "mkdocstrings-python==2.0.11",
        "mkdocs-click==0.9.0", "ruff==0.17.6"]  # fmt: skip


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite against SQLite, PostgreSQL and MariaDB (see README for the URLs)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "2", "--ignore=tests/interop", "--ignore=tests/pipelines", *session.posargs)


@nox.session(python="3.12")
def pipelines(session: nox.Session) -> None:
    """The example pipelines (quickstart, scikit-learn) answer the seven questions, on every backend."""
    session.install("-e", ".[test]", "scikit-learn")
    session.run("pytest", "-n", "2", "tests/pipelines", *session.posargs)


@nox.session(python="3.11")
def interop(session: nox.Session) -> None:
    """Round trips between tracker and the real ml-metadata package, on SQLite and PostgreSQL."""
    session.install("-e", ".[test]", MLMD)
    session.run("pytest", "tests/interop", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Write-path benchmarks as ratios against ml-metadata in the same process (not run by CI)."""
    session.install("-e", ".[test]", MLMD)
    session.run("python", "bench/write_path.py", *session.posargs)


@nox.session(python="3.11")
def bench_queries(session: nox.Session) -> None:
    """Lineage, filter and paging queries as ratios against ml-metadata on the same file (not run by CI)."""
    session.install("-e", ".[test]", MLMD)
    session.run("python", "bench/queries.py", *session.posargs)


@nox.session(python="3.11")
def bench_lineage_floor(session: nox.Session) -> None:
    """The lineage case of bench_queries against the least Python's sqlite3 module does for the same rows."""
    session.install("-e", ".[test]", MLMD)
    session.run("python", "bench/lineage_floor.py", *session.posargs)


@nox.session(python="3.11")
def bench_step(session: nox.Session) -> None:
    """One @tracker.step call against the plain function and ml-metadata; a 200 MB array against cloudpickle."""
    session.install("-e", ".", MLMD, NUMPY)
    session.run("python", "bench/step_overhead.py", *session.posargs)


@nox.session(python="3.11")
def bench_cache(session: nox.Session) -> None:
    """A cache hit on a step with a 100 MB input, against its trivial body run tracked (not run by CI)."""
    session.install("-e", ".", NUMPY)
    session.run("python", "bench/cache_hit.py", *session.posargs)


@nox.session(python="3.11")
def bench_fixture(session: nox.Session) -> None:
    """The per-test cost of the tracker_store fixture against a plain tmp_path, in one pytest run (not run by CI)."""
    session.install("-e", ".", "pytest")
    session.run("python", "bench/fixture_cost.py", *session.posargs)


@nox.session(python="3.11")
def bench_mlflow(session: nox.Session) -> None:
    """One small experiment run through tracker and through MLflow, each side in its own subprocess."""
    session.install("-e", ".", MLFLOW)
    session.run("python", "bench/mlflow_compare.py", *session.posargs)


@nox.session(python="3.11")
def bench_cli(session: nox.Session) -> None:
    """How fast `tracker --help` and `tracker runs` start, against a bare interpreter (not run by CI)."""
    session.install("-e", ".")
    session.run("python", "bench/cli_startup.py", *session.posargs)


@nox.session(python="3.11")
def example(session: nox.Session) -> None:
    """The README's example: record a small pipeline in ./.tracker and print its lineage."""
    session.install("-e", ".")
    session.run("python", "examples/quickstart.py", *session.posargs)


@nox.session(python="3.11")
def example_sklearn(session: nox.Session) -> None:
    """A scikit-learn pipeline (iris, logistic regression) recorded in ./.tracker, and its lineage."""
    session.install("-e", ".", "scikit-learn")
    session.run("python", "examples/sklearn_pipeline.py", *session.posargs)


@nox.session(python="3.13")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", "tracker", "tests", "bench", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "tracker", "tests", "bench", "examples", "noxfile.py")


@nox.session(python="3.13")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on tracker/, and on tests/typing (code that must keep type-checking as written)."""
    session.install("-e", ".", "mypy", "typing_extensions", "pytest")  # pytest: tracker.testing's plugin
    session.run("mypy", "--strict", "tracker", "tests/typing", *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The documentation site, built into site/ (mkdocs build --strict: a broken link or reference fails)."""
    session.install("-e", ".", *DOCS)
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
