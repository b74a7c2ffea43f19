"""tracker.lineage(x) and tracker.compare(...): the seven questions, from values, records, ids and runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from answers_steps import Recorded

import tracker
from tracker import Artifact, ArtifactBaseType, InvalidArgumentError, NotFoundError
from tracker.errors import ConfigurationError
from tracker.query import Comparison


def _model(recorded: Recorded, run: str = "baseline") -> Artifact:
    (model,) = [a for a in recorded.store.get_artifacts("type = 'Model'") if tracker.lineage(a).run.name == run]  # type: ignore[union-attr]
    return model


def test_a_value_a_record_and_an_id_are_the_same_artifact(recorded: Recorded) -> None:
    _, model_value, _ = recorded.baseline
    by_value = tracker.lineage(model_value)
    assert by_value.record == tracker.lineage(by_value.record).record == tracker.lineage(by_value.record.id).record
    assert by_value.kind == "artifact" and by_value.record.type == "Model"


def test_an_equal_value_is_found_by_fingerprint(recorded: Recorded) -> None:
    data, _, _ = recorded.baseline
    copy = list(data)  # not the object a step returned: found by its content
    assert tracker.lineage(copy).record.id == tracker.lineage(data).record.id


def test_the_seven_questions(recorded: Recorded) -> None:
    data, model, metrics = recorded.baseline
    lin = tracker.lineage(model)
    data_artifact = tracker.lineage(data).record
    # 1. the data it was trained on
    assert [a.id for a in lin.datasets()] == [data_artifact.id]
    # 2. hyperparameters: arguments and logged params of the step that made it
    assert lin.params == {"lr": 0.1, "seed": 7}
    # 3. metrics: of the evaluation that read it
    assert lin.metrics == {"mse": metrics["mse"], "n": 10}
    # 4. the run, and its pipeline
    assert lin.run is not None and lin.run.name == "baseline"
    assert lin.pipeline is not None and lin.pipeline.name == "toy"
    # 5. the models trained on this data: both runs' (the same data is one artifact)
    models = tracker.lineage(data).models()
    assert [m.id for m in models] == [lin.record.id, tracker.lineage(recorded.tuned[1]).record.id]
    assert [m.id for m in lin.other_models()] == [models[1].id]
    # 6. compare the runs
    table = tracker.compare([lin.run, tracker.lineage(recorded.tuned[1]).run])
    (lr,) = [r for r in table.rows if r.key == "train.lr"]
    assert lr.values == (0.1, 0.2) and lr.differs
    # 7. the environment
    assert lin.environment["python"].count(".") == 2
    assert lin.environment["function"] == "train"
    assert isinstance(lin.packages, dict)


def test_the_model_type_is_marked_as_a_model(recorded: Recorded) -> None:
    (model_type,) = [t for t in recorded.store.get_artifact_types() if t.name == "Model"]
    assert model_type.base_type == ArtifactBaseType.MODEL


def test_the_producer_and_its_other_outputs(recorded: Recorded) -> None:
    _, model, _ = recorded.baseline
    lin = tracker.lineage(model)
    assert lin.producer is not None and lin.producer.type == "train"
    assert [a.id for a in lin.outputs] == [lin.record.id] and lin.siblings == []
    assert [a.type for a in lin.inputs] == ["list"]
    assert lin.succeeded is True


def test_an_execution(recorded: Recorded) -> None:
    (train,) = [e for e in recorded.store.get_executions("type = 'train'") if e.properties["lr"] == 0.2]
    lin = tracker.lineage(train)
    assert lin.kind == "execution" and lin.producer == train
    assert lin.params == {"lr": 0.2, "seed": 7}
    assert lin.run is not None and lin.run.name == "tuned"
    with pytest.raises(InvalidArgumentError, match="asks about an artifact"):
        lin.datasets()


def test_a_run(recorded: Recorded) -> None:
    run = tracker.lineage(recorded.store.get_context_by_type_and_name("Run", "tuned"))
    assert run.kind == "context" and run.run is run.record
    assert run.params["train.lr"] == 0.2 and run.params["load.day"] == 1
    assert set(run.metrics) == {"mse", "n"}
    graph = run.graph()
    assert sorted(n.type for n in graph.nodes if n.kind == "execution") == ["evaluate", "load", "train"]
    assert {n.type for n in graph.nodes if n.kind == "artifact"} == {"list", "Model", "Metrics"}


def test_run_level_metrics_are_metrics_and_params_are_params(recorded: Recorded) -> None:
    with tracker.run("logged") as run:
        tracker.log_params(batch=32)
        tracker.log_metrics(auc=0.75)
    lin = tracker.lineage(run)
    assert lin.params == {"batch": 32}
    assert lin.metrics == {"auc": 0.75}


def test_walks_and_type_filters(recorded: Recorded) -> None:
    _, model, _ = recorded.baseline
    lin = tracker.lineage(model)
    up = lin.upstream()  # both runs loaded the same data: one artifact, output by two load executions
    assert sorted(n.type for n in up.nodes) == ["Model", "list", "load", "load", "train"]
    assert [n.key for n in up.nodes if n.focus] == [f"a{lin.record.id}"]
    down = lin.downstream(max_hops=2)
    assert sorted(n.type for n in down.nodes) == ["Metrics", "Model", "evaluate"]
    only = lin.upstream(types=["Model", "train"])
    assert sorted(n.type for n in only.nodes) == ["Model", "train"] and len(only.edges) == 1


def test_exports(recorded: Recorded) -> None:
    graph = tracker.lineage(recorded.baseline[1]).upstream()
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {") and dot.count("->") == len(graph.edges) == 4
    mermaid = graph.to_mermaid()
    assert mermaid.startswith("flowchart LR") and mermaid.count("-->|") == 4
    data = json.loads(graph.to_json())
    assert {n["key"] for n in data["nodes"]} == {n.key for n in graph.nodes}
    assert all("tracker_value" not in n["custom_properties"] for n in data["nodes"])
    nx = graph.to_networkx()
    assert nx.number_of_nodes() == 5 and nx.number_of_edges() == 4
    assert "<html" in graph.to_html().lower()


def test_mermaid_and_dot_escape_labels() -> None:
    from tracker.query.graph import Graph

    odd = Artifact(type='We"ird<T>', name='x"]; y', id=1, type_id=1)
    graph = Graph(artifacts=[odd])
    assert '"]; y' not in graph.to_mermaid() and "#34;" in graph.to_mermaid()
    assert 'label="We\\"ird<T> #1 x\\"]; y' in graph.to_dot()


def test_compare_tables(recorded: Recorded) -> None:
    runs = [recorded.store.get_context_by_type_and_name("Run", name) for name in ("baseline", "tuned")]
    table = tracker.compare(runs)
    assert table.columns == ["baseline", "tuned"]
    assert {r.section for r in table.rows} >= {"params", "metrics", "environment"}
    diff = table.differences()
    assert {r.key for r in diff.rows} >= {"train.lr", "mse"} and all(r.differs for r in diff.rows)
    rows = {(d["section"], d["key"]): d for d in table.to_dicts()}
    assert rows[("params", "train.lr")] == {"section": "params", "key": "train.lr", "baseline": 0.1, "tuned": 0.2,
                                            "differs": True}  # fmt: skip
    assert rows[("params", "load.day")]["differs"] is False
    frame = table.to_pandas()
    assert frame.loc[("params", "train.lr"), "tuned"] == 0.2
    text = str(table.section("params"))
    assert "* params.train.lr" in text and "  params.load.day" in text
    models = tracker.compare([recorded.baseline[1], recorded.tuned[1]])
    assert models.columns[0].startswith("Model #") and isinstance(models, Comparison)


def test_two_items_with_one_label_get_numbered(recorded: Recorded) -> None:
    run = recorded.store.get_context_by_type_and_name("Run", "baseline")
    assert tracker.compare([run, run]).columns == ["baseline", "baseline (2)"]


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (object(), NotFoundError, "recorded this object"),
        (123_456, NotFoundError, "no artifact with id 123456"),
        (Artifact(type="Model"), InvalidArgumentError, "never stored"),
        (True, InvalidArgumentError, "lineage"),
        (lambda: 1, NotFoundError, "cannot be fingerprinted|recorded this"),
    ],
)
def test_what_is_not_in_the_store(recorded: Recorded, x: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        tracker.lineage(x)


def test_a_record_from_another_store_is_refused(recorded: Recorded, tmp_path: Path) -> None:
    model = tracker.lineage(recorded.baseline[1]).record
    with tracker.connect(str(tmp_path / "other.sqlite")) as other, pytest.raises(NotFoundError, match="came from"):
        tracker.lineage(model, store=other)


def test_compare_needs_two(recorded: Recorded) -> None:
    with pytest.raises(InvalidArgumentError, match="at least two"):
        tracker.compare([recorded.baseline[1]])


def test_optional_libraries_are_named_when_missing(recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "networkx", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ConfigurationError, match="pip install networkx"):
        tracker.lineage(recorded.baseline[1]).upstream().to_networkx()
    with pytest.raises(ConfigurationError, match="pip install pandas"):
        tracker.compare([recorded.baseline[1], recorded.tuned[1]]).to_pandas()
