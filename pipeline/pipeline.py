"""The TFX DAG: ExampleGen → statistics, schema, validation → Transform → Trainer →
Evaluator (against the last blessed model) → Pusher."""

from typing import Any, Dict, List

from tfx import v1 as tfx
from tfx.dsl.components.base import base_node
from tfx.proto import transform_pb2

from components.anomalies_gate import AnomaliesGate
from components.atomic_pusher import AtomicPusher
from components.baseline_resolver import PreviousBlessedModelStrategy
from components.curated_schema_gen import CuratedSchemaGen
from components.gated_evaluator import GatedEvaluator
from components.hyperparameters_gen import HyperparametersGen
from components.movielens_example_gen import CODE_FINGERPRINT_KEY, MovieLensExampleGen
from models.hparams import RUNTIME_HYPERPARAMETERS
from models.run_fn import TRAINING_CONFIG_KEY
from pipeline import data_source
from pipeline.configs import PipelineConfig
from pipeline.run_summary import PUSHER_ID
from pipeline.fingerprint import EVALUATOR_CODE, EXAMPLE_GEN_CODE, MODEL_CODE, code_fingerprint

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
    return {DATA_ROOT_PARAMETER: source.input_base,
            **{name: ptype(getattr(config.training, name))
               for name, ptype in RUNTIME_HYPERPARAMETERS.items()},
            **config.thresholds.as_parameters()}


def _runtime(name: str, default, enabled: bool):
    """A Kubeflow run-time parameter with this default, or the plain default."""
    return tfx.dsl.experimental.RuntimeParameter(name=name, ptype=type(default),
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
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = CuratedSchemaGen(schema_file=config.schema_file).with_id(SCHEMA_GEN_ID)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    models_fingerprint = code_fingerprint(MODEL_CODE)
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="models.preprocessing.preprocessing_fn",
        # Vocabularies from train + eval: the movie vocabulary is the retrieval catalog.
        splits_config=transform_pb2.SplitsConfig(analyze=["train", "eval"],
                                                 transform=["train", "eval"]),
        custom_config={CODE_FINGERPRINT_KEY: models_fingerprint},
    )
    transform.add_upstream_node(anomalies_gate)

    tunable = []
    if runtime_parameters:
        defaults = runtime_parameter_defaults(config)
        hyperparameters_gen = HyperparametersGen(**{
            name: _runtime(name, defaults[name], True) for name in RUNTIME_HYPERPARAMETERS})
        tunable = [hyperparameters_gen]

    trainer = tfx.components.Trainer(
        run_fn="models.run_fn.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config={TRAINING_CONFIG_KEY: config.training.to_json(),
                       CODE_FINGERPRINT_KEY: models_fingerprint},
        hyperparameters=tunable[0].outputs["hyperparameters"] if tunable else None,
    )

    evaluator_inputs = dict(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        training=config.training,
        thresholds={name: _runtime(name, value, runtime_parameters)
                    for name, value in config.thresholds.as_parameters().items()},
        hyperparameters=tunable[0].outputs["hyperparameters"] if tunable else None,
        code_fingerprint=code_fingerprint(EVALUATOR_CODE))
    if experiment:  # metrics only: nothing blessed, so nothing pushed nor used as a baseline
        evaluator = GatedEvaluator(baseline_model=None, gate=False,
                                   **evaluator_inputs).with_id(EVALUATOR_ID)
        return [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
                transform, *tunable, trainer, evaluator]

    every_model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    every_blessing = tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing)
    if baseline_excludes_candidate:
        baseline_resolver = tfx.dsl.Resolver(
            strategy_class=PreviousBlessedModelStrategy, candidate=trainer.outputs["model"],
            model=every_model, model_blessing=every_blessing)
    else:  # Kubeflow v2 compiles only TFX's built-in strategies
        baseline_resolver = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=every_model, model_blessing=every_blessing)
    baseline_resolver = baseline_resolver.with_id(BASELINE_RESOLVER)
    evaluator = GatedEvaluator(baseline_model=baseline_resolver.outputs["model"],
                               **evaluator_inputs).with_id(EVALUATOR_ID)

    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.serving_dir)),
    ).with_id(PUSHER_ID)
    return [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
            transform, *tunable, trainer, baseline_resolver, evaluator, pusher]


def create_pipeline(config: PipelineConfig, metadata_connection_config=None,
                    runtime_parameters: bool = False,
                    baseline_excludes_candidate: bool = True,
                    experiment: bool = False) -> tfx.dsl.Pipeline:
    """The pipeline; MLMD is the orchestrator's (Kubeflow's) unless a connection is given."""
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=create_components(config, runtime_parameters, baseline_excludes_candidate,
                                     experiment),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_pipeline_args),
    )
