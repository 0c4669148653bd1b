"""GatedEvaluator: TFX's Evaluator with its blessing thresholds as run-time parameters.

The thresholds live inside the Evaluator's `eval_config` proto, which Kubeflow cannot turn
into run-time parameters. This component takes them as plain float parameters (negative =
off) plus the training config and the optional hyperparameters artifact the Trainer got, and
its executor builds the EvalConfig at run time from those — so the gate also follows
run-time loss weights (a task with weight 0 is not gated) — then runs TFX's Evaluator.

One threshold is not TFMA's: `min_ndcg_at_10`, on the per-user NDCG@10 that the Trainer
computed (rated titles removed: TFMA's per-example metrics cannot express it). Below it, or
if the Trainer did not write it, the executor withdraws TFMA's blessing and says why
(`names.RANKING_GATE_KEY` on the ModelBlessing).

The executor also checks how many examples TFMA scored (its `example_count`, per model)
against ExampleGen's record counts of the evaluated splits (components/record_counts.py): a
blessing computed on part of the eval split fails the run instead.
"""

import json
import os
from typing import Any, Dict, List, Optional, Union

from absl import logging
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.dsl.io import fileio
from tfx.orchestration import data_types
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import proto_utils

import names
from components import record_counts
from components.code_fingerprint import code_fingerprint
from components.eval_config import EXAMPLE_COUNT_METRIC, EvalThresholds, make_eval_config
from components.hyperparameters_gen import read_values
from models.hparams import TRAINING_CONFIG_KEY, TrainingConfig

HYPERPARAMETERS_KEY = standard_component_specs.HYPERPARAMETERS_KEY
MODEL_RUN_KEY = standard_component_specs.MODEL_RUN_KEY  # the Trainer's reports
GATE_KEY = "gate"  # 0: evaluate only (an experiment), never bless
THRESHOLD_KEYS = tuple(EvalThresholds().as_parameters())


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        TRAINING_CONFIG_KEY: ExecutionParameter(type=str),
        names.CODE_FINGERPRINT_KEY: ExecutionParameter(type=str),
        GATE_KEY: ExecutionParameter(type=int, optional=True),
        names.BLESSING_PIPELINE_KEY: ExecutionParameter(type=str, optional=True),
        **{name: ExecutionParameter(type=float) for name in THRESHOLD_KEYS},
    }
    INPUTS = {
        **standard_component_specs.EvaluatorSpec.INPUTS,
        HYPERPARAMETERS_KEY: ChannelParameter(type=standard_artifacts.HyperParameters,
                                              optional=True),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
    }


def runtime_eval_config(exec_properties: Dict[str, Any],
                        hyperparameters_uri: Optional[str]) -> str:
    """The EvalConfig (as JSON) for the thresholds and training config this run got."""
    training = TrainingConfig.from_json(exec_properties[TRAINING_CONFIG_KEY])
    if hyperparameters_uri:
        training = training.with_overrides(read_values(hyperparameters_uri))
    gate = bool(exec_properties.get(GATE_KEY, 1))
    return proto_utils.proto_to_json(
        make_eval_config(training, runtime_thresholds(exec_properties), gate))


def runtime_thresholds(exec_properties: Dict[str, Any]) -> EvalThresholds:
    """The thresholds this run got (execution parameters; negative = off)."""
    return EvalThresholds.from_parameters(
        {name: float(exec_properties[name]) for name in THRESHOLD_KEYS})


def _withdraw_blessing(blessing: types.Artifact, reason: str) -> None:
    """TFMA blessed the model; a threshold of ours did not: NOT_BLESSED, with the reason."""
    fileio.remove(os.path.join(blessing.uri, evaluator_constants.BLESSED_FILE_NAME))
    with fileio.open(os.path.join(blessing.uri, evaluator_constants.NOT_BLESSED_FILE_NAME),
                     "w") as f:
        f.write(reason)
    blessing.set_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY,
                                     evaluator_constants.NOT_BLESSED_VALUE)
    blessing.set_string_custom_property(names.RANKING_GATE_KEY, reason)
    logging.info("Blessing withdrawn: %s", reason)


def _trainer_report(model_run_uri: Optional[str], file_name: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(model_run_uri or "", file_name)
    if not (model_run_uri and fileio.exists(path)):
        return None
    with fileio.open(path) as f:
        return json.load(f)


def apply_ranking_threshold(blessing: types.Artifact, model_run_uri: Optional[str],
                            min_ndcg_at_10: Optional[float],
                            min_lift_over_popularity: Optional[float] = None) -> None:
    """Withdraws a blessing whose model's per-user NDCG@10 (the Trainer's report in
    `model_run_uri`) is below `min_ndcg_at_10`, or below `min_lift_over_popularity` times the
    popularity baseline's, or unknown. Nothing when both are off or TFMA did not bless."""
    if (min_ndcg_at_10 is None and min_lift_over_popularity is None) or \
            blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY) \
            != evaluator_constants.BLESSED_VALUE:
        return
    metric = names.ndcg_metric(10)
    value = (_trainer_report(model_run_uri, names.RANKING_METRICS_FILE) or {}).get(metric)
    if value is None:
        _withdraw_blessing(blessing, f"a ranking threshold is set but the Trainer reported no "
                                     f"{metric} ({model_run_uri})")
    elif min_ndcg_at_10 is not None and not value >= min_ndcg_at_10:  # NaN fails too
        _withdraw_blessing(blessing, f"per-user {metric} {value:.4f} is below min_ndcg_at_10 "
                                     f"{min_ndcg_at_10}")
    elif min_lift_over_popularity is not None:
        baseline = (_trainer_report(model_run_uri, names.POPULARITY_METRICS_FILE)
                    or {}).get(metric)
        if baseline is None:
            _withdraw_blessing(blessing, f"min_ndcg_lift_over_popularity is set but the "
                                         f"Trainer reported no popularity {metric}")
        elif not value >= min_lift_over_popularity * baseline:
            _withdraw_blessing(
                blessing, f"per-user {metric} {value:.4f} is below "
                          f"min_ndcg_lift_over_popularity {min_lift_over_popularity} x the "
                          f"popularity baseline's {baseline:.4f}")


def evaluated_counts(evaluation_uri: str) -> Dict[str, int]:
    """{model name ('' for a single model): examples TFMA scored}, from the overall slice of
    the evaluation's metrics."""
    import tensorflow_model_analysis as tfma

    counts: Dict[str, int] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue  # only the overall slice: the others are parts of it
        for item in metrics.metric_keys_and_values:
            if item.key.name == EXAMPLE_COUNT_METRIC and not item.key.is_diff:
                counts[item.key.model_name] = int(item.value.double_value.value)
    return counts


def check_evaluated_count(evaluation_uri: str, examples: List[types.Artifact],
                          splits: List[str]) -> None:
    """RecordCountError unless TFMA scored, for each model, every example of `splits`."""
    expected = record_counts.expected_examples(examples, splits)
    if expected is None:
        return
    counts = evaluated_counts(evaluation_uri)
    if not counts:
        raise record_counts.RecordCountError(
            f"the Evaluator wrote no {EXAMPLE_COUNT_METRIC} in {evaluation_uri}: how many "
            f"examples it scored cannot be checked against ExampleGen's {expected:,}")
    for model_name, count in sorted(counts.items()):
        stage = "The Evaluator" + (f" ({model_name})" if model_name else "")
        record_counts.check_count(stage, "+".join(splits), count, expected)
    logging.info("The Evaluator scored %s examples, as ExampleGen wrote", f"{expected:,}")


class GatedEvaluatorExecutor(evaluator_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        hyperparameters = input_dict.get(HYPERPARAMETERS_KEY)
        exec_properties = dict(exec_properties)
        exec_properties[standard_component_specs.EVAL_CONFIG_KEY] = runtime_eval_config(
            exec_properties,
            artifact_utils.get_single_uri(hyperparameters) if hyperparameters else None)
        super().Do(input_dict, output_dict, exec_properties)
        check_evaluated_count(
            artifact_utils.get_single_uri(output_dict[standard_component_specs.EVALUATION_KEY]),
            input_dict[standard_component_specs.EXAMPLES_KEY],
            json.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY)
                       or "null") or ["eval"])
        # Kubeflow's metadata store is shared by every pipeline of a project: its baseline
        # query (kubeflow_runner.scope_baseline_to_pipeline) keeps this pipeline's blessings.
        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY])
        blessing.set_string_custom_property(names.BLESSING_PIPELINE_KEY,
                                            exec_properties.get(names.BLESSING_PIPELINE_KEY) or "")
        model_run = input_dict.get(MODEL_RUN_KEY)
        thresholds = runtime_thresholds(exec_properties)
        apply_ranking_threshold(
            blessing, artifact_utils.get_single_uri(model_run) if model_run else None,
            thresholds.min_ndcg_at_10, thresholds.min_ndcg_lift_over_popularity)


class GatedEvaluator(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = GatedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(GatedEvaluatorExecutor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel], training: TrainingConfig,
                 thresholds: Dict[str, Union[float, data_types.RuntimeParameter]],
                 hyperparameters: Optional[types.BaseChannel] = None, gate: bool = True,
                 pipeline_name: str = "", model_run: Optional[types.BaseChannel] = None
                 ) -> None:
        """`thresholds`: EvalThresholds.as_parameters(), or run-time parameters in its place.
        `gate=False`: metrics only, never a blessing (experiments). `pipeline_name` is
        recorded on the blessing (`names.BLESSING_PIPELINE_KEY`). `model_run`: the Trainer's
        reports, for `min_ndcg_at_10`.

        The compile-time EvalConfig (from the compiled values) is kept in the spec for
        readers; the executor replaces it with the run-time one.
        """
        compiled = EvalThresholds.from_parameters(
            {name: value.default if isinstance(value, data_types.RuntimeParameter) else value
             for name, value in thresholds.items()})
        super().__init__(spec=GatedEvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model,
            hyperparameters=hyperparameters, model_run=model_run,
            eval_config=make_eval_config(training, compiled, gate),
            gate=int(gate),
            pipeline_name=pipeline_name,
            training_config=training.to_json(),
            code_fingerprint=code_fingerprint([__name__]),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            **thresholds))
