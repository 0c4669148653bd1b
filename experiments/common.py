"""Shared by the experiment scripts: the transformed splits of a pipeline run, in memory.

Experiments read the Transform output of a real `make run` (same split, vocabularies and
examples the Trainer gets) and train with `models.training`, the code the Trainer runs.
"""

import dataclasses
import glob
import json
import os
from typing import Dict

import tensorflow_transform as tft

import names
from models import side_features
from models.data import SIDE_COLUMNS, Columns, load_columns, vocabulary_sizes
from models.side_features import SideFeatures


def _newest(pattern: str) -> str:
    matches = sorted(glob.glob(pattern), key=lambda p: int(os.path.basename(p.rstrip("/"))))
    if not matches:
        raise FileNotFoundError(f"nothing matches {pattern}: run `make run OUTPUT=...` first")
    return matches[-1]


@dataclasses.dataclass(frozen=True)
class Transformed:
    """A pipeline run's splits as the Trainer loads them, with every side feature there is."""

    train: Columns
    evaluation: Columns
    num_users: int
    num_movies: int
    side: SideFeatures
    graph: tft.TFTransformOutput  # its vocabularies, and what an exported model puts in front


def load_transformed(pipeline_root: str) -> Transformed:
    """The newest ExampleGen run's examples under the root through the newest Transform run's
    graph, as the Trainer loads them (side features included, when the graph has them)."""
    return load_transformed_run(
        _newest(os.path.join(pipeline_root, "Transform", "transform_graph", "*")),
        _newest(os.path.join(pipeline_root, names.EXAMPLE_GEN_ID, "examples", "*")))


def load_transformed_run(transform_graph: str, examples: str) -> Transformed:
    """The examples of one ExampleGen artifact (its folder) through one Transform graph (its
    folder), as the Trainer loads them."""
    graph = tft.TFTransformOutput(transform_graph)
    train = load_columns([os.path.join(examples, "Split-train", "*")], graph, SIDE_COLUMNS)
    evaluation = load_columns([os.path.join(examples, "Split-eval", "*")], graph, SIDE_COLUMNS)
    num_users, num_movies = vocabulary_sizes(graph)
    return Transformed(train, evaluation, num_users, num_movies,
                       side_features.from_transform(graph, [train, evaluation], num_users,
                                                    num_movies),
                       graph)


def validation_metrics(history: Dict[str, list], best_epoch) -> Dict[str, float]:
    """The validation metrics of the kept epoch (the last one without early stopping)."""
    index = (best_epoch - 1) if best_epoch else -1
    return {name[4:]: values[index] for name, values in history.items()
            if name.startswith("val_")}


def append_jsonl(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
