"""The TFX DAG: ExampleGen → statistics, schema, validation → Transform → Trainer →
Evaluator (against the last blessed model) → Pusher."""

import json
from typing import Any, Dict, List

# Direct imports, not `tfx.v1`: that umbrella also imports the Google Cloud extensions
# (aiplatform), seconds of start-up that every run, even a fully cached one, would pay.
from tfx.components import ExampleValidator, StatisticsGen, Trainer, Transform, Tuner
from tfx.dsl.components.base import base_node
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.orchestration import data_types
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import Channel, standard_artifacts

from components.anomalies_gate import AnomaliesGate
from components.atomic_pusher import AtomicPusher
from components.baseline_resolver import PreviousBlessedModelStrategy
from components.curated_schema_gen import CuratedSchemaGen
from components.gated_evaluator import GatedEvaluator
from components.hyperparameters_gen import HyperparametersGen
from components.movielens_example_gen import MovieLensExampleGen
from models.hparams import RUNTIME_HYPERPARAMETERS, TRAINING_CONFIG_KEY, TUNING_KEY
from pipeline import data_source
from pipeline.configs import PipelineConfig
from pipeline.run_summary import PUSHER_ID
from pipeline.fingerprint import (CODE_FINGERPRINT_KEY, EVALUATOR_CODE, EXAMPLE_GEN_CODE,
                                  MODEL_CODE, code_fingerprint)

DATA_ROOT_PARAMETER = "data_root"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
SCHEMA_GEN_ID = "SchemaGen"
EVALUATOR_ID = "Evaluator"


def runtime_parameter_defaults(config: PipelineConfig) -> Dict[str, Any]:
    """Name → default of every run-time parameter (the data folder, the tunable
    hyperparameters and the blessing thresholds, -1 = off).

    The Kubeflow spec does not carry RuntimeParameter defaults: the runner passes these as the
    PipelineJob's parameter values.
    """
    source = data_source.resolve(config.data.source, config.cache_dir)
    hyperparameters = {} if config.tuner_trials else {  # with a Tuner, it chooses them
        name: ptype(getattr(config.training, name))
        for name, ptype in RUNTIME_HYPERPARAMETERS.items()}
    return {DATA_ROOT_PARAMETER: source.input_base, **hyperparameters,
            **config.thresholds.as_parameters()}


def _runtime(name: str, default, enabled: bool):
    """A Kubeflow run-time parameter with this default, or the plain default."""
    return data_types.RuntimeParameter(name=name, ptype=type(default),
                                       default=default) if enabled else default


def create_components(config: PipelineConfig, runtime_parameters: bool = False,
                      baseline_excludes_candidate: bool = True,
                      experiment: bool = False) -> List[base_node.BaseNode]:
    """The components; with `runtime_parameters`, the data location, the run-time tunable
    hyperparameters and the thresholds become parameters of each run (Kubeflow) instead of
    compile-time values. `baseline_excludes_candidate`: the Evaluator's baseline is the latest
    blessed model other than the one just trained (so a re-run with nothing changed is fully
    cached); off, TFX's LatestBlessedModelStrategy (the only one Kubeflow v2 compiles).
    `experiment`: train and evaluate only (no resolver, no blessing, no Pusher), sharing every
    cached upstream output with the full pipeline: for comparisons that must not touch serving
    or become the next run's baseline."""
    source = data_source.resolve(config.data.source, config.cache_dir)
    example_gen = MovieLensExampleGen(
        input_base=_runtime(DATA_ROOT_PARAMETER, source.input_base, runtime_parameters),
        file_pattern=source.file_pattern,
        tfds_name=source.tfds_name,
        train_percent=config.data.train_percent,
        max_malformed_lines=config.data.max_malformed_lines,
        code_fingerprint=code_fingerprint(EXAMPLE_GEN_CODE),
    )
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = CuratedSchemaGen(schema_file=config.schema_file).with_id(SCHEMA_GEN_ID)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    models_fingerprint = code_fingerprint(MODEL_CODE)
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="models.preprocessing.preprocessing_fn",
        # Vocabularies from train + eval: the movie vocabulary is the retrieval catalog.
        splits_config=transform_pb2.SplitsConfig(analyze=["train", "eval"],
                                                 transform=["train", "eval"]),
        custom_config={CODE_FINGERPRINT_KEY: models_fingerprint},
        # Nothing reads Transform's own pre/post-transform statistics (StatisticsGen and the
        # gate already validated the raw data) nor its analyzer cache (one analysis per
        # data version, cached by TFX as a whole): both cost a full extra pass.
        disable_statistics=True,
        disable_analyzer_cache=True,
    )
    transform.add_upstream_node(anomalies_gate)

    # What the Tuner and the Trainer both read (the Tuner never reads eval: it holds out part
    # of train; TFX requires eval_args all the same).
    training_inputs = dict(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(splits=["train"]),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]))
    # The node choosing the hyperparameters at run time (Tuner or HyperparametersGen), if any,
    # and its HyperParameters channel, read by the Trainer and the Evaluator.
    tunable, hyperparameters = [], None
    if config.tuner_trials:  # the Tuner's best values win over run-time hyperparameters
        tuner = Tuner(
            tuner_fn="models.tuner.tuner_fn", **training_inputs,
            custom_config={TRAINING_CONFIG_KEY: config.training.to_json(),
                           TUNING_KEY: json.dumps(
                               {"max_trials": config.tuner_trials,
                                "validation_percent": config.tuner_validation_percent}),
                           CODE_FINGERPRINT_KEY: models_fingerprint})
        tunable, hyperparameters = [tuner], tuner.outputs["best_hyperparameters"]
    elif runtime_parameters:
        defaults = runtime_parameter_defaults(config)
        hyperparameters_gen = HyperparametersGen(**{
            name: _runtime(name, defaults[name], True) for name in RUNTIME_HYPERPARAMETERS})
        tunable = [hyperparameters_gen]
        hyperparameters = hyperparameters_gen.outputs["hyperparameters"]

    trainer = Trainer(
        run_fn="models.run_fn.run_fn", **training_inputs,
        custom_config={TRAINING_CONFIG_KEY: config.training.to_json(),
                       CODE_FINGERPRINT_KEY: models_fingerprint},
        hyperparameters=hyperparameters,
    )

    evaluator_inputs = dict(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        training=config.training,
        thresholds={name: _runtime(name, value, runtime_parameters)
                    for name, value in config.thresholds.as_parameters().items()},
        hyperparameters=hyperparameters,
        code_fingerprint=code_fingerprint(EVALUATOR_CODE))
    if experiment:  # metrics only: nothing blessed, so nothing pushed nor used as a baseline
        evaluator = GatedEvaluator(baseline_model=None, gate=False,
                                   **evaluator_inputs).with_id(EVALUATOR_ID)
        return [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
                transform, *tunable, trainer, evaluator]

    every_model = Channel(type=standard_artifacts.Model)
    every_blessing = Channel(type=standard_artifacts.ModelBlessing)
    if baseline_excludes_candidate:
        baseline_resolver = Resolver(
            strategy_class=PreviousBlessedModelStrategy, candidate=trainer.outputs["model"],
            model=every_model, model_blessing=every_blessing)
    else:  # Kubeflow v2 compiles only TFX's built-in strategies
        baseline_resolver = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=every_model, model_blessing=every_blessing)
    baseline_resolver = baseline_resolver.with_id(BASELINE_RESOLVER)
    evaluator = GatedEvaluator(baseline_model=baseline_resolver.outputs["model"],
                               **evaluator_inputs).with_id(EVALUATOR_ID)

    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.serving_dir)),
    ).with_id(PUSHER_ID)
    return [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
            transform, *tunable, trainer, baseline_resolver, evaluator, pusher]


def create_pipeline(config: PipelineConfig, metadata_connection_config=None,
                    runtime_parameters: bool = False,
                    baseline_excludes_candidate: bool = True,
                    experiment: bool = False) -> tfx_pipeline.Pipeline:
    """The pipeline; MLMD is the orchestrator's (Kubeflow's) unless a connection is given."""
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=create_components(config, runtime_parameters, baseline_excludes_candidate,
                                     experiment),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_pipeline_args),
    )
