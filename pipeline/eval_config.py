"""TFMA configuration: RMSE on `rating`, top-K accuracy on `retrieval`, and the blessing gate."""

import json
from typing import List

import tensorflow_model_analysis as tfma

from models import features
from models.hparams import TrainingConfig
from pipeline.configs import ConfigError, EvalThresholds

RMSE_METRIC = "root_mean_squared_error"


def top_k_metric_name(k: int) -> str:
    """Same names as TFRS's FactorizedTopK metrics (without its `factorized_top_k/` prefix)."""
    return f"top_{k}_categorical_accuracy"


def _rmse_metric(thresholds: EvalThresholds) -> tfma.MetricConfig:
    threshold = tfma.MetricThreshold()
    if thresholds.max_rmse is not None:
        threshold.value_threshold.upper_bound.value = thresholds.max_rmse
    if thresholds.max_rmse_increase is not None:
        threshold.change_threshold.direction = tfma.MetricDirection.LOWER_IS_BETTER
        threshold.change_threshold.absolute.value = thresholds.max_rmse_increase
    return tfma.MetricConfig(class_name="RootMeanSquaredError",
                             config=json.dumps({"name": RMSE_METRIC}),
                             threshold=threshold if threshold.ByteSize() else None)


def _top_k_metrics(training: TrainingConfig, thresholds: EvalThresholds,
                   gate: bool) -> List[tfma.MetricConfig]:
    """Keras SparseTopKCategoricalAccuracy: is the true title's column among the K best?

    That is FactorizedTopK's definition over the same catalog (ties at rank K may differ).
    """
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
            class_name="SparseTopKCategoricalAccuracy",
            config=json.dumps({"k": k, "name": top_k_metric_name(k)}),
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
    if gate_retrieval and 100 not in training.top_ks and (
            thresholds.min_top_100_accuracy is not None
            or thresholds.max_top_100_decrease is not None):
        raise ConfigError(f"the retrieval thresholds are on top-100 accuracy, but top_ks "
                          f"{training.top_ks} does not include 100")
    rmse = _rmse_metric(thresholds if gate_rating else EvalThresholds(None, None, None, None))
    top_k = _top_k_metrics(training, thresholds, gate_retrieval)
    if gate and not any(m.HasField("threshold") for m in [rmse] + top_k):
        raise ConfigError("no evaluation threshold is configured for the trained task(s): "
                         "TFX would never bless (and so never push) the model")
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=features.SERVING_SIGNATURE,
            preprocessing_function_names=[features.TRANSFORM_SIGNATURE],
            label_keys={features.RATING_OUTPUT: features.USER_RATING,
                        features.RETRIEVAL_OUTPUT: features.MOVIE_INDEX},
        )],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(output_names=[features.RATING_OUTPUT], metrics=[rmse]),
            tfma.MetricsSpec(output_names=[features.RETRIEVAL_OUTPUT], metrics=top_k),
        ],
    )
