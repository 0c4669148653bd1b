"""HyperparametersGen: the run-time tunable hyperparameters as a HyperParameters artifact.

Kubeflow can only make whole execution properties run-time parameters, and the Trainer's
training config is one JSON property. This component turns a few plain parameters (each a
KFP runtime parameter) into the artifact the Trainer's `hyperparameters` input takes (the same
input a TFX Tuner feeds), in KerasTuner's config format; `run_fn` lays them over the config.
"""

import json

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types.standard_artifacts import HyperParameters
from tfx.utils import io_utils

HYPERPARAMETERS_FILE = "best_hyperparameters.txt"  # the name the Tuner writes


@component
def HyperparametersGen(hyperparameters: OutputArtifact[HyperParameters],
                       rating_weight: Parameter[float], retrieval_weight: Parameter[float],
                       epochs: Parameter[int], learning_rate: Parameter[float],
                       code_fingerprint: Parameter[str]) -> None:
    """`code_fingerprint`: of this module, only part of the cache key."""
    del code_fingerprint
    values = {"rating_weight": rating_weight, "retrieval_weight": retrieval_weight,
              "epochs": epochs, "learning_rate": learning_rate}
    fileio.makedirs(hyperparameters.uri)
    with fileio.open(f"{hyperparameters.uri}/{HYPERPARAMETERS_FILE}", "w") as f:
        json.dump({"space": [], "values": values}, f)


def read_values(hyperparameters_uri: str) -> dict:
    """The `values` of the one hyperparameters file in the artifact (ours or a Tuner's)."""

    path = io_utils.get_only_uri_in_dir(hyperparameters_uri)
    with fileio.open(path, "r") as f:
        return json.load(f).get("values", {})
