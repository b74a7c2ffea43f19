"""The README's main command: quickstart runs, and the store it leaves answers the lineage questions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tracker
from tracker import EventType

EXAMPLES = Path(__file__).parent.parent / "examples"


def _events(store: tracker.Store, artifact_id: int, kind: EventType) -> list[tracker.Event]:
    return [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type is kind]


def test_quickstart_records_what_a_user_asks_about(tmp_path: Path) -> None:
    """Which data trained the model, with which hyperparameters, its metrics, and its run: plain store queries."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRACKER_URL", "TRACKER_VALUES")}
    done = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2. hyperparameters: {'epochs': 10, 'lr': 0.05}" in done.stdout
    assert "made in run 'baseline' (complete) of pipeline 'housing'" in done.stdout
    assert "flowchart LR" in done.stdout
    with tracker.connect(str(tmp_path / ".tracker" / "mlmd.sqlite")) as store:
        (model,) = store.get_artifacts_by_type("LinearModel")
        (made,) = _events(store, model.id, EventType.OUTPUT)  # type: ignore[arg-type]
        (train,) = store.get_executions_by_id([made.execution_id])
        assert train.type == "train" and train.properties == {"lr": 0.05, "epochs": 10}  # hyperparameters
        (data_event,) = [e for e in store.get_events_by_execution_ids([train.id]) if e.type is EventType.INPUT]  # type: ignore[list-item]
        (data,) = store.get_artifacts_by_id([data_event.artifact_id])
        assert data_event.path == ["data"] and data.custom_properties["length"] == 200  # the dataset
        (load_event,) = _events(store, data.id, EventType.OUTPUT)  # type: ignore[arg-type]
        assert store.get_executions_by_id([load_event.execution_id])[0].properties == {"day": 1, "split": "train"}
        (used,) = _events(store, model.id, EventType.INPUT)  # type: ignore[arg-type]
        outputs = [e.artifact_id for e in store.get_events_by_execution_ids([used.execution_id])
                   if e.type is EventType.OUTPUT]  # fmt: skip
        (metrics,) = store.get_artifacts_by_id(outputs)
        assert metrics.type == "Metrics" and 0.9 < metrics.custom_properties["r2"] <= 1  # its metrics
        (run,) = store.get_contexts_by_artifact(model.id)  # type: ignore[arg-type]
        assert run.name == "baseline" and run.custom_properties["tracker_status"] == "complete"  # its run
        assert [p.name for p in store.get_parent_contexts_by_context(run.id)] == ["housing"]  # type: ignore[arg-type]
        assert tracker.load(model).weight > 2.5
