"""TFMA configuration: RMSE on `rating`, top-K accuracy on `retrieval`, and the blessing gate.

TFMA runs the model's `evaluate_examples` signature, whose `retrieval` output is each
example's rank of its own title (see models/eval_metrics.py), not a score per catalog title.

GatedEvaluator's executor builds it at run time (the thresholds can be run-time parameters);
the pipeline validates the compiled values with the same code.
"""

import dataclasses
import json
import math
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma

import names
from models.eval_metrics import TopKAccuracyFromRank
from models.hparams import ConfigError, TrainingConfig

DISABLED = -1.0  # a threshold passed as a (run-time) parameter with this value is off


@dataclasses.dataclass(frozen=True)
class EvalThresholds:
    """The blessing gate. A task's thresholds apply only when its loss weight is > 0.

    Value thresholds are checked on every run; change thresholds against the last blessed
    model (TFMA ignores them on the first run, when there is no baseline). None disables one.
    """

    max_rmse: Optional[float] = 1.2
    min_top_100_accuracy: Optional[float] = 0.15
    max_rmse_increase: Optional[float] = 0.05
    max_top_100_decrease: Optional[float] = 0.02
    # On the Trainer's per-user NDCG@10 (rated titles removed; models/evaluation.py), not a
    # TFMA metric: GatedEvaluator withdraws TFMA's blessing below it. Off by default.
    min_ndcg_at_10: Optional[float] = None
    # The same NDCG@10 over the popularity baseline's (its ratio, by the same code): 1.0
    # blesses no model that the most-rated titles beat. Off by default.
    min_ndcg_lift_over_popularity: Optional[float] = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"threshold {field.name} must be a number >= 0 or None, "
                                  f"got {value}")

    def as_parameters(self) -> Dict[str, float]:
        """Each threshold as a float execution parameter; DISABLED (-1) stands for None."""
        return {field.name: DISABLED if getattr(self, field.name) is None
                else float(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_parameters(cls, values: Dict[str, float]) -> "EvalThresholds":
        """Inverse of as_parameters: any negative value disables its threshold."""
        return cls(**{field.name: None if values[field.name] < 0 else values[field.name]
                      for field in dataclasses.fields(cls)})



EXAMPLE_COUNT_CLASS = "ExampleCount"  # TFMA's metric; its key is `example_count`
EXAMPLE_COUNT_METRIC = "example_count"


def _rmse_metric(thresholds: EvalThresholds) -> tfma.MetricConfig:
    threshold = tfma.MetricThreshold()
    if thresholds.max_rmse is not None:
        threshold.value_threshold.upper_bound.value = thresholds.max_rmse
    if thresholds.max_rmse_increase is not None:
        threshold.change_threshold.direction = tfma.MetricDirection.LOWER_IS_BETTER
        threshold.change_threshold.absolute.value = thresholds.max_rmse_increase
    return tfma.MetricConfig(class_name="RootMeanSquaredError",
                             config=json.dumps({"name": names.RMSE_METRIC}),
                             threshold=threshold if threshold.ByteSize() else None)


def _top_k_metrics(training: TrainingConfig, thresholds: EvalThresholds,
                   gate: bool) -> List[tfma.MetricConfig]:
    """Is the true title among the K best? Keras's SparseTopKCategoricalAccuracy's
    definition, from the rank the model computed (TopKAccuracyFromRank); FactorizedTopK's over
    the same catalog (ties at rank K may differ)."""
    metrics = []
    for k in training.top_ks:
        threshold = tfma.MetricThreshold()
        if gate and k == 100:
            if thresholds.min_top_100_accuracy is not None:
                threshold.value_threshold.lower_bound.value = thresholds.min_top_100_accuracy
            if thresholds.max_top_100_decrease is not None:
                threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
                threshold.change_threshold.absolute.value = -thresholds.max_top_100_decrease
        metrics.append(tfma.MetricConfig(
            class_name=TopKAccuracyFromRank.__name__, module=TopKAccuracyFromRank.__module__,
            config=json.dumps({"k": k, "name": names.top_k_metric(k)}),
            threshold=threshold if threshold.ByteSize() else None))
    return metrics


def make_eval_config(training: TrainingConfig, thresholds: EvalThresholds,
                     gate: bool = True) -> tfma.EvalConfig:
    """Metrics for both tasks; with `gate`, the thresholds of the trained tasks (at least one
    is required). Without, an evaluation only: no threshold, so no blessing is ever written."""
    if not gate:
        thresholds = EvalThresholds(None, None, None, None)
    gate_rating = gate and training.rating_weight > 0
    gate_retrieval = gate and training.retrieval_weight > 0
    for name in ("min_ndcg_at_10", "min_ndcg_lift_over_popularity"):
        if gate_retrieval and getattr(thresholds, name) is not None and \
                10 not in training.recall_ks:
            raise ConfigError(f"{name} needs per-user NDCG@10, but recall_ks "
                              f"{training.recall_ks} does not include 10")
    if gate_retrieval and 100 not in training.top_ks and (
            thresholds.min_top_100_accuracy is not None
            or thresholds.max_top_100_decrease is not None):
        raise ConfigError(f"the retrieval thresholds are on top-100 accuracy, but top_ks "
                          f"{training.top_ks} does not include 100")
    # A change threshold alone blesses the first model whatever its metrics (there is no
    # baseline to compare with; TFX then passes it, even with NaN metrics).
    for trained, value, name, weight in (
            (gate_rating, thresholds.max_rmse, "max_rmse", "rating_weight"),
            (gate_retrieval, thresholds.min_top_100_accuracy, "min_top_100_accuracy",
             "retrieval_weight")):
        if trained and value is None:
            raise ConfigError(
                f"{weight} is {getattr(training, weight)} but the value threshold {name} is "
                f"off: without it the first model is blessed whatever its metrics (NaN too); "
                f"set it, or the task's weight to 0")
    rmse = _rmse_metric(thresholds if gate_rating else EvalThresholds(None, None, None, None))
    top_k = _top_k_metrics(training, thresholds, gate_retrieval)
    if gate and not any(m.HasField("threshold") for m in [rmse] + top_k):
        raise ConfigError("no evaluation threshold is configured for the trained task(s): "
                         "TFX would never bless (and so never push) the model")
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=names.EVAL_SIGNATURE,
            # Raw features only, so no Transform pass of its own: evaluate_examples ranks each
            # example against its own title, and TopKAccuracyFromRank ignores its label (TFMA
            # wants one per output; the rating is at hand). docs/benchmarks.md has the gain.
            label_keys={names.RATING_OUTPUT: names.USER_RATING,
                        names.RETRIEVAL_OUTPUT: names.USER_RATING},
        )],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(output_names=[names.RATING_OUTPUT], metrics=[rmse]),
            tfma.MetricsSpec(output_names=[names.RETRIEVAL_OUTPUT], metrics=top_k),
            # How many examples TFMA scored: GatedEvaluatorExecutor checks it against
            # ExampleGen's record counts.
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=EXAMPLE_COUNT_CLASS)]),
        ],
    )
