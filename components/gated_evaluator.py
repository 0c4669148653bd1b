"""GatedEvaluator: TFX's Evaluator with its blessing thresholds as run-time parameters.

The thresholds live inside the Evaluator's `eval_config` proto, which Kubeflow cannot turn
into run-time parameters. This component takes them as plain float parameters (negative =
off) plus the training config and the optional hyperparameters artifact the Trainer got, and
its executor builds the EvalConfig at run time from those — so the gate also follows
run-time loss weights (a task with weight 0 is not gated) — then runs TFX's Evaluator.
"""

from typing import Any, Dict, List, Optional, Union

from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import proto_utils

from components.code_fingerprint import code_fingerprint
from components.eval_config import EvalThresholds, make_eval_config
from components.hyperparameters_gen import read_values
from models.hparams import TRAINING_CONFIG_KEY, TrainingConfig
from names import BLESSING_PIPELINE_KEY, CODE_FINGERPRINT_KEY

HYPERPARAMETERS_KEY = standard_component_specs.HYPERPARAMETERS_KEY
GATE_KEY = "gate"  # 0: evaluate only (an experiment), never bless
THRESHOLD_KEYS = tuple(EvalThresholds().as_parameters())


class GatedEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        TRAINING_CONFIG_KEY: ExecutionParameter(type=str),
        CODE_FINGERPRINT_KEY: ExecutionParameter(type=str),
        GATE_KEY: ExecutionParameter(type=int, optional=True),
        BLESSING_PIPELINE_KEY: ExecutionParameter(type=str, optional=True),
        **{name: ExecutionParameter(type=float) for name in THRESHOLD_KEYS},
    }
    INPUTS = {
        **standard_component_specs.EvaluatorSpec.INPUTS,
        HYPERPARAMETERS_KEY: ChannelParameter(type=standard_artifacts.HyperParameters,
                                              optional=True),
    }


def runtime_eval_config(exec_properties: Dict[str, Any],
                        hyperparameters_uri: Optional[str]) -> str:
    """The EvalConfig (as JSON) for the thresholds and training config this run got."""
    training = TrainingConfig.from_json(exec_properties[TRAINING_CONFIG_KEY])
    if hyperparameters_uri:
        training = training.with_overrides(read_values(hyperparameters_uri))
    thresholds = EvalThresholds.from_parameters(
        {name: float(exec_properties[name]) for name in THRESHOLD_KEYS})
    gate = bool(exec_properties.get(GATE_KEY, 1))
    return proto_utils.proto_to_json(make_eval_config(training, thresholds, gate))


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
        # Kubeflow's metadata store is shared by every pipeline of a project: its baseline
        # query (kubeflow_runner.scope_baseline_to_pipeline) keeps this pipeline's blessings.
        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY])
        blessing.set_string_custom_property(BLESSING_PIPELINE_KEY,
                                            exec_properties.get(BLESSING_PIPELINE_KEY) or "")


class GatedEvaluator(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = GatedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(GatedEvaluatorExecutor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel], training: TrainingConfig,
                 thresholds: Dict[str, Union[float, data_types.RuntimeParameter]],
                 hyperparameters: Optional[types.BaseChannel] = None, gate: bool = True,
                 pipeline_name: str = "") -> None:
        """`thresholds`: EvalThresholds.as_parameters(), or run-time parameters in its place.
        `gate=False`: metrics only, never a blessing (experiments). `pipeline_name` is
        recorded on the blessing (`names.BLESSING_PIPELINE_KEY`).

        The compile-time EvalConfig (from the compiled values) is kept in the spec for
        readers; the executor replaces it with the run-time one.
        """
        compiled = EvalThresholds.from_parameters(
            {name: value.default if isinstance(value, data_types.RuntimeParameter) else value
             for name, value in thresholds.items()})
        super().__init__(spec=GatedEvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model,
            hyperparameters=hyperparameters,
            eval_config=make_eval_config(training, compiled, gate),
            gate=int(gate),
            pipeline_name=pipeline_name,
            training_config=training.to_json(),
            code_fingerprint=code_fingerprint([__name__]),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            **thresholds))
