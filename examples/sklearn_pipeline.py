"""A scikit-learn pipeline, tracked with ``@tracker.step``, and what the store then knows.

Run it with ``nox -s example_sklearn`` (or ``python examples/sklearn_pipeline.py`` where tracker
and scikit-learn are installed). The data set ships with scikit-learn: nothing is downloaded. The
records go to ``./.tracker/mlmd.sqlite`` (or ``$TRACKER_URL``) and the values to
``./.tracker/values`` (or ``$TRACKER_VALUES``); each run adds one more run.
"""

from __future__ import annotations

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import tracker
from tracker import ArtifactBaseType

# Name the artifact types after what they are, not after their Python classes.
tracker.register_artifact_type(LogisticRegression, "Model", base_type=ArtifactBaseType.MODEL)
tracker.register_artifact_type(np.ndarray, "Dataset", base_type=ArtifactBaseType.DATASET)


@tracker.step(outputs=("features", "labels"))
def load(name: str = "iris") -> tuple[np.ndarray, np.ndarray]:
    """One of the toy data sets scikit-learn ships, as (features, labels)."""
    bunch = getattr(datasets, f"load_{name}")()
    return bunch.data, bunch.target


@tracker.step(outputs=("train_x", "test_x", "train_y", "test_y"))
def split(
    x: np.ndarray, y: np.ndarray, test_size: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified train/test split."""
    return tuple(train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y))


@tracker.step
def train(x: np.ndarray, y: np.ndarray, c: float = 1.0, max_iter: int = 200) -> LogisticRegression:
    """Logistic regression with inverse regularization strength *c*."""
    model = LogisticRegression(C=c, max_iter=max_iter).fit(x, y)
    tracker.log_params(n_iter=int(model.n_iter_.max()), classes=len(model.classes_))  # not arguments
    return model


@tracker.step
def evaluate(model: LogisticRegression, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-averaged F1 on held-out data."""
    predicted = model.predict(x)
    return {"accuracy": float(accuracy_score(y, predicted)), "f1_macro": float(f1_score(y, predicted, average="macro"))}


def main() -> None:
    with tracker.run("logreg", pipeline="iris-classifier") as run:
        x, y = load("iris")
        train_x, test_x, train_y, test_y = split(x, y, test_size=0.3, seed=1)
        model = train(train_x, train_y, c=0.5)
        metrics = evaluate(model, test_x, test_y)
    print(f"trained {model}, metrics {metrics}\n")

    # What the store knows now: each question is one line.
    lin = tracker.lineage(model)
    made = lin.record
    print(f"model: artifact #{made.id} ({made.type}) in {run.store.url}")
    sources = [f"{a.type} #{a.id} of shape {a.custom_properties.get('shape')}" for a in lin.datasets()]
    print(f"  1. trained on: {', '.join(sources)}")
    print(f"  2. hyperparameters: {lin.params}")
    print(f"  3. metrics: { {k: round(v, 3) for k, v in lin.metrics.items()} }")
    if lin.run is not None:
        print(f"  4. made in run {lin.run.name!r} of pipeline {lin.pipeline.name if lin.pipeline else None!r}")
    others = [f"#{m.id}" for m in lin.other_models()]
    print(f"  5. other models trained on the same data: {', '.join(others) or 'none yet (run me again)'}")
    print(f"  7. made with Python {lin.environment.get('python')} and {lin.packages}")
    print("\nits lineage, as Mermaid:")
    print(lin.upstream().to_mermaid())
    print(f"the model, loaded back: {tracker.load(made)!r}")


if __name__ == "__main__":
    main()
