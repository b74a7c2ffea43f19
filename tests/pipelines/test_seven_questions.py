"""The README's pipelines answer the seven questions, in Python and through the `tracker` command.

Each example runs twice (two runs) in a fresh database on every backend; then each
question is asked with tracker.lineage / tracker.compare and with the command's --json
output, and both must agree. Runs in the `pipelines` nox session (it installs scikit-learn).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tracker

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"

# what each example records: its model type, parameters, metrics, run, pipeline, and packages
EXPECTED: dict[str, dict[str, Any]] = {
    "quickstart": {
        "model": "LinearModel",
        "params": {"epochs": 10, "lr": 0.05},
        "metrics": {"rmse", "r2"},
        "run": "baseline #2",
        "pipeline": "housing",
        "packages": set(),
        "datasets": [("list", None)],
    },
    "sklearn_pipeline": {
        "model": "Model",
        "params": {"c": 0.5, "max_iter": 200, "classes": 3},
        "metrics": {"accuracy", "f1_macro"},
        "run": "logreg #2",
        "pipeline": "iris-classifier",
        "packages": {"numpy", "scikit-learn"},
        "datasets": [("Dataset", "(105, 4)"), ("Dataset", "(105,)")],
    },
}


def _run_example(name: str, url: str, where: Path) -> None:
    env = {**os.environ, "TRACKER_URL": url, "TRACKER_VALUES": str(where / "values")}
    for _ in range(2):
        done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], cwd=where, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr


def _command(url: str, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "tracker", *args, "--store", url, "--json"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_the_seven_questions(example: str, store_url: str, tmp_path: Path) -> None:
    expected = EXPECTED[example]
    _run_example(example, store_url, tmp_path)
    with tracker.connect(store_url) as store:
        model = store.get_artifacts(f"type = '{expected['model']}'", order_by="create_time", descending=True)[0]
        lin = tracker.lineage(model, store=store)
        mid = str(model.id)

        # 1. which data did it train on?
        datasets = lin.datasets()
        assert [(d.type, d.custom_properties.get("shape")) for d in datasets] == expected["datasets"]
        assert [d["id"] for d in _command(store_url, "datasets", mid)] == [d.id for d in datasets]

        # 2. with which hyperparameters?
        assert expected["params"].items() <= lin.params.items()
        assert _command(store_url, "params", mid)["params"] == lin.params

        # 3. what were its metrics?
        assert set(lin.metrics) == expected["metrics"] and all(v >= 0 for v in lin.metrics.values())
        assert _command(store_url, "metrics", mid)["metrics"] == pytest.approx(lin.metrics)

        # 4. which run made it?
        assert lin.run is not None and lin.run.name == expected["run"]
        assert lin.pipeline is not None and lin.pipeline.name == expected["pipeline"]
        made = _command(store_url, "run-of", mid)
        assert (made["run"]["name"], made["pipeline"]["name"]) == (expected["run"], expected["pipeline"])

        # 5. which models were trained on this data? (this one among them, from both runs)
        first = datasets[0]
        models = tracker.lineage(first, store=store).models()
        assert model.id in [m.id for m in models]
        assert [m["id"] for m in _command(store_url, "models", str(first.id))] == [m.id for m in models]

        # 6. how do the two runs compare? The same code and data: the same parameters and metrics
        runs = [c.name for c in store.get_contexts("type = 'Run'", order_by="create_time")]
        table = tracker.compare([store.get_context_by_type_and_name("Run", name) for name in runs], store=store)
        assert table.columns == runs and len(runs) == 2
        assert not [r for r in table.section("params").rows if r.differs]
        assert {r.key for r in table.section("metrics").rows} == expected["metrics"]
        shell = _command(store_url, "compare", *runs)
        assert shell["columns"] == runs and len(shell["rows"]) == len(table.rows)

        # 7. which library versions made it?
        assert set(lin.packages) == expected["packages"]
        assert lin.environment["python"] == ".".join(map(str, sys.version_info[:3]))
        assert _command(store_url, "env", mid)["packages"] == lin.packages
