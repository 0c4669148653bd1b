"""The TFX DAG: ExampleGen → statistics, schema, validation → Transform → Trainer →
Evaluator (against the served model) and LoadCheck (TensorFlow-only load) → Pusher.

`create_pipeline` only builds: the runners resolve the data source first (the one piece of
I/O, with errors a person can act on) and pass what ExampleGen reads.

Continuous training (a drops folder of spans, local runs only): ExampleGen ingests one span
per run; statistics and validation look at that span; two resolvers add the earlier spans'
Examples from MLMD: Transform's vocabularies cover every span up to this one, the Trainer
trains on the last `window` spans; the Trainer's own evaluation and the Evaluator score this
span's eval split only (components/span_window.py).
"""

import enum
import glob
import json
from typing import Any, Dict, Optional, Union

# Direct imports, not `tfx.v1`: that umbrella also imports the Google Cloud extensions
# (aiplatform), seconds of start-up that every run, even a fully cached one, would pay.
from tfx.components import ExampleValidator, StatisticsGen, Tuner
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration import data_types
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import Channel, standard_artifacts

import names
from components.anomalies_gate import AnomaliesGate
from components.atomic_pusher import AtomicPusher
from components.baseline_resolver import ServedModelStrategy
from components.code_fingerprint import code_fingerprint
from components.counted_trainer import CountedTrainer
from components.curated_schema_gen import CuratedSchemaGen
from components.drift_gate import DriftGate, every_check, every_statistics
from components.gated_evaluator import GatedEvaluator
from components.hyperparameters_gen import HyperparametersGen
from components.load_check import LoadCheck
from components.movielens_example_gen.component import MovieLensExampleGen
from components.span_window import (
    CHECKS_KEY,
    CURRENT_KEY,
    EXAMPLES_KEY,
    STATISTICS_KEY,
    SpanWindowStrategy,
    SpanWindowTrainer,
)
from components.transform.component import Transform
from models.hparams import RUNTIME_HYPERPARAMETERS, TRAINING_CONFIG_KEY, TUNING_KEY
from movielens.source import ResolvedSource
from pipeline.configs import ConfigError, PipelineConfig

DATA_ROOT_PARAMETER = "data_root"
# The code Transform and the Trainer (or Tuner) run, named by dotted path.
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.run_fn.run_fn"
TUNER_FN = "models.tuner.tuner_fn"


class Mode(enum.Enum):
    """What the pipeline is for.

    PRODUCTION: the local pipeline; the Evaluator's baseline is the latest blessed model other
      than the one just trained (so a re-run with nothing changed is fully cached), a blessed
      model is pushed.
    EXPERIMENT: train and evaluate only (no baseline, no blessing, no Pusher), sharing every
      cached upstream output with PRODUCTION: comparisons that must not touch serving or
      become the next run's baseline.
    KUBEFLOW: PRODUCTION for Kubeflow Pipelines v2: the data location, the tunable
      hyperparameters and the thresholds are run-time parameters, and the baseline comes
      from TFX's LatestBlessedModelStrategy (the only kind of resolver KFP v2 compiles).
    """

    PRODUCTION = "production"
    EXPERIMENT = "experiment"
    KUBEFLOW = "kubeflow"


def runtime_parameter_defaults(config: PipelineConfig,
                               source: ResolvedSource) -> Dict[str, Any]:
    """Name → default of every run-time parameter (the data folder, the tunable
    hyperparameters and the blessing thresholds, -1 = off).

    The Kubeflow spec does not carry RuntimeParameter defaults: the runner passes these as the
    PipelineJob's parameter values.
    """
    hyperparameters = {} if config.tuner_trials else {  # with a Tuner, it chooses them
        name: ptype(getattr(config.training, name))
        for name, ptype in RUNTIME_HYPERPARAMETERS.items()}
    # ExampleGen's input_base is a glob pattern to TFX: the local path, escaped.
    return {DATA_ROOT_PARAMETER: glob.escape(source.input_base), **hyperparameters,
            **config.thresholds.as_parameters()}


def _parameter(mode: Mode, name: str, default: Any) -> Union[Any, data_types.RuntimeParameter]:
    """A run-time parameter with this default on Kubeflow, else the plain default."""
    if mode is not Mode.KUBEFLOW:
        return default
    return data_types.RuntimeParameter(name=name, ptype=type(default), default=default)


def _hyperparameters_node(config: PipelineConfig, mode: Mode, training_inputs: Dict[str, Any],
                          defaults: Dict[str, Any]):
    """The node choosing hyperparameters at run time, or None: a Tuner's search when tuning
    (its best values win over run-time hyperparameters), else on Kubeflow the run's
    parameters as a HyperParameters artifact."""
    if config.tuner_trials:
        return Tuner(
            tuner_fn=TUNER_FN, **training_inputs,
            custom_config={TRAINING_CONFIG_KEY: config.training.to_json(),
                           TUNING_KEY: json.dumps(
                               {"max_trials": config.tuner_trials,
                                "validation_percent": config.tuner_validation_percent}),
                           names.CODE_FINGERPRINT_KEY: code_fingerprint(["models.tuner"])})
    if mode is Mode.KUBEFLOW:
        return HyperparametersGen(
            **{name: _parameter(mode, name, defaults[name]) for name in RUNTIME_HYPERPARAMETERS},
            code_fingerprint=code_fingerprint(["components.hyperparameters_gen"]))
    return None


def _trainer(config: PipelineConfig, source: ResolvedSource):
    """TFX's Trainer, with its rows checked against ExampleGen's record counts (evaluating on
    the newest span alone when it reads a window of spans), or its Vertex AI Training twin
    (imported only then: the Google Cloud extensions cost seconds of start-up)."""
    if config.vertex_training is None:
        return CountedTrainer if source.span is None else SpanWindowTrainer
    from tfx.extensions.google_cloud_ai_platform.trainer.component import Trainer as Vertex

    return Vertex


def _vertex_training_config(config: PipelineConfig) -> Dict[str, Any]:
    """The Vertex Trainer's custom_config keys: where and on how many machines to train."""
    vertex = config.vertex_training
    if vertex is None:
        return {}
    from tfx.extensions.google_cloud_ai_platform import constants
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_executor

    return {constants.ENABLE_VERTEX_KEY: True,
            constants.VERTEX_REGION_KEY: vertex.region,
            vertex_executor.TRAINING_ARGS_KEY: {
                "project": vertex.project,
                "job_spec": {"worker_pool_specs": vertex.worker_pool_specs()}}}


def transform_component(examples: Channel, schema: Channel) -> Transform:
    """The pipeline's Transform: the id and side-feature vocabularies of train and eval.

    Also what bench/transform_completeness.py and the tests run, so they run this one.
    """
    return Transform(
        examples=examples,
        schema=schema,
        preprocessing_fn=PREPROCESSING_FN,
        splits_config=transform_pb2.SplitsConfig(analyze=["train", "eval"]),
        custom_config={names.CODE_FINGERPRINT_KEY: code_fingerprint(["models.preprocessing"])},
        # Nothing reads Transform's own pre/post-transform statistics (StatisticsGen and the
        # gate already validated the raw data) nor its analyzer cache (one analysis per
        # data version, cached by TFX as a whole): both cost a full extra pass.
        disable_statistics=True,
        disable_analyzer_cache=True,
        materialize=False)


def _served_model_resolver(mode: Mode, node_id: str,
                           candidate: Optional[Channel] = None) -> Resolver:
    """The served model: locally the newest pushed model other than `candidate`
    (ServedModelStrategy), on Kubeflow TFX's latest blessed model (custom strategies do not
    compile to KFP v2). Two nodes use it: the Evaluator's baseline (candidate: the Trainer's
    model) and the warm start's base model (no candidate: it runs before the Trainer)."""
    every_model = Channel(type=standard_artifacts.Model)
    every_blessing = Channel(type=standard_artifacts.ModelBlessing)
    if mode is Mode.KUBEFLOW:
        resolver = Resolver(strategy_class=LatestBlessedModelStrategy,
                            model=every_model, model_blessing=every_blessing)
    else:
        resolver = Resolver(strategy_class=ServedModelStrategy,
                            **({"candidate": candidate} if candidate is not None else {}),
                            model=every_model, model_blessing=every_blessing,
                            pushed_model=Channel(type=standard_artifacts.PushedModel))
    return resolver.with_id(node_id)


def check_spans(config: PipelineConfig, source: ResolvedSource, mode: Mode) -> None:
    """Raises ConfigError where the spans asked for and the source or mode disagree.

    Spans are local-only: the window's resolvers run our own ResolverStrategy, which KFP v2
    does not compile (it compiles TFX's latest-artifact and latest-blessed-model strategies
    alone), and the Trainer that evaluates on the newest span is not the Vertex one.
    """
    if source.span is None:
        if config.data.window > 1 or config.data.span is not None:
            raise ConfigError(f"window {config.data.window} / span {config.data.span} need a "
                              f"drops folder of spans as the data source")
        return
    if mode is Mode.KUBEFLOW:
        raise ConfigError("a drops folder of spans (with its window) runs locally only: its "
                          "resolvers do not compile for Kubeflow Pipelines v2; pass a single "
                          "GroupLens dataset (a .zip or folder) to kubeflow_runner.py")
    if config.vertex_training is not None:
        raise ConfigError("a drops folder of spans cannot train on Vertex AI Training")
    if config.data.span is not None and config.data.span != source.span:
        raise ConfigError(f"the config asks for span {config.data.span} but the source was "
                          f"resolved to span {source.span}: pass the span to source.resolve")


def _span_resolver(example_gen: MovieLensExampleGen, window: int, node_id: str) -> Resolver:
    """Every Examples artifact of this pipeline's ExampleGen in MLMD, down to the latest
    artifact of each of the last `window` spans (0: every span) up to this run's. This run's
    ExampleGen output is an input, so the resolver runs after it and the window includes it."""
    return Resolver(
        strategy_class=SpanWindowStrategy, config={"window": window},
        **{CURRENT_KEY: example_gen.outputs["examples"],
           # No output key: TFX would then key this input as it keys `current` (by producer
           # and output), and the two would collapse into one. ExampleGen has one output.
           EXAMPLES_KEY: Channel(type=standard_artifacts.Examples,
                                 producer_component_id=names.EXAMPLE_GEN_ID),
           # Which spans a gate refused (span_window.refused_spans): left out of the window.
           STATISTICS_KEY: every_statistics(), CHECKS_KEY: every_check()}).with_id(node_id)


def create_pipeline(config: PipelineConfig, source: ResolvedSource, mode: Mode = Mode.PRODUCTION,
                    metadata_connection_config: Optional[Any] = None) -> tfx_pipeline.Pipeline:
    """The pipeline for `config`, reading `source` (from `movielens.source.resolve`).

    MLMD is the orchestrator's (Kubeflow's) unless a connection is given.
    """
    check_spans(config, source, mode)
    defaults = runtime_parameter_defaults(config, source)
    parameter = lambda name: _parameter(mode, name, defaults[name])  # noqa: E731

    # Ratings (a GroupLens archive, TFDS, or one span of a drops folder) → tf.Examples, split
    # train/eval by a hash (or by time); fails on malformed lines past the tolerance and on
    # duplicate ratings. A span is always named (a static range): `--span 3` and a run whose
    # newest span is 3 share one cache key, and TFX's driver reads the span fingerprinted.
    example_gen = MovieLensExampleGen(
        input_base=parameter(DATA_ROOT_PARAMETER),
        file_pattern=(source.file_pattern if source.file_pattern == "*"
                      else glob.escape(source.file_pattern)),
        tfds_name=source.tfds_name,
        train_percent=config.data.train_percent,
        max_malformed_lines=config.data.max_malformed_lines,
        split_by=config.data.split,
        # The local files' fingerprint; on Kubeflow the data is read where the pipeline runs.
        data_fingerprint="" if mode is Mode.KUBEFLOW else source.fingerprint,
        span=source.span,
    ).with_id(names.EXAMPLE_GEN_ID)

    # Without spans, Transform and the Trainer read this run's Examples alone.
    transform_examples = training_examples = example_gen.outputs["examples"]
    span_resolvers = []
    if source.span is not None:
        # Spans: the Examples of every span up to this run's, from MLMD, for Transform's
        # vocabularies (the catalog seen so far).
        history = _span_resolver(example_gen, 0, names.SPAN_HISTORY_RESOLVER_ID)
        # ... and of the last `window` spans up to this run's, for the Trainer (and Tuner).
        window = _span_resolver(example_gen, config.data.window, names.SPAN_WINDOW_RESOLVER_ID)
        span_resolvers = [history, window]
        transform_examples = history.outputs[EXAMPLES_KEY]
        training_examples = window.outputs[EXAMPLES_KEY]

    # Statistics of each split (this run's span), for validation.
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])

    # The curated schema checked into the repository (not inferred from this run's data),
    # without the user side features where the source has no user file.
    schema_gen = CuratedSchemaGen(
        schema_file=config.schema_file,
        absent_features=() if source.has_user_features else names.USER_SIDE_FEATURES,
    ).with_id(names.SCHEMA_GEN_ID)

    # Statistics against the schema; the gate stops the run before Transform on any anomaly.
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    # ... and StatisticsGen's example counts against ExampleGen's record counts.
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"],
                                   statistics=statistics_gen.outputs["statistics"],
                                   examples=example_gen.outputs["examples"],
                                   code_fingerprint=code_fingerprint(["components.anomalies_gate"]))

    # Id vocabularies from train + eval (the movie vocabulary is the retrieval catalog; with
    # spans, of every span so far) and the graph that maps ids to indices. No transformed copy
    # of the examples is written: the Trainer applies the graph to ExampleGen's examples as it
    # loads them (models/data.py). TFX's Transform, but each artifact's splits are read as one
    # dataset (components/transform: no runner-side Flatten of every record).
    transform = transform_component(transform_examples, schema_gen.outputs["schema"])
    transform.add_upstream_node(anomalies_gate)
    drift_gate = None
    if source.span is not None:
        # Spans: this span's statistics against the previous accepted span's (TFDV's drift
        # comparators in the curated schema); past a threshold the run stops before Transform
        # (or warns). After AnomaliesGate: its output says the span passed both gates, and
        # later windows and drift checks leave out a span without one (a refused drop).
        drift_gate = DriftGate(statistics=statistics_gen.outputs["statistics"],
                               schema=schema_gen.outputs["schema"],
                               all_statistics=every_statistics(), checks=every_check(),
                               mode=config.drift_mode).with_id(names.DRIFT_GATE_ID)
        drift_gate.add_upstream_node(anomalies_gate)
        transform.add_upstream_node(drift_gate)

    # What the Tuner and the Trainer both read (the Tuner never reads eval: it holds out part
    # of train; TFX requires eval_args all the same).
    training_inputs = dict(
        examples=training_examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(splits=["train"]),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]))

    # Optional: hyperparameters chosen at run time (a Tuner, or Kubeflow run parameters).
    hyperparameters_node = _hyperparameters_node(config, mode, training_inputs, defaults)
    hyperparameters = None
    if hyperparameters_node is not None:
        hyperparameters = hyperparameters_node.outputs[
            "best_hyperparameters" if config.tuner_trials else "hyperparameters"]

    # Optional (warm_start in the training config): the served model, whose trained rows and
    # rating head the Trainer starts from (models/warm_start.py; every later run retrains).
    warm_start_resolver = (_served_model_resolver(mode, names.WARM_START_RESOLVER_ID)
                           if config.training.warm_start else None)

    # The multi-task model: trained on train (of every span of the window; on Vertex AI
    # Training's workers if configured), exported with its serving signatures.
    trainer = _trainer(config, source)(
        run_fn=RUN_FN, **training_inputs,
        custom_config={TRAINING_CONFIG_KEY: config.training.to_json(),
                       names.CODE_FINGERPRINT_KEY: code_fingerprint(
                           ["models.run_fn"] + (["components.span_window"]
                                                if source.span is not None else [])),
                       **_vertex_training_config(config)},
        hyperparameters=hyperparameters,
        base_model=(warm_start_resolver.outputs["model"] if warm_start_resolver else None),
    ).with_id(names.TRAINER_ID)

    components = [example_gen, *span_resolvers, statistics_gen, schema_gen, example_validator,
                  anomalies_gate, *([drift_gate] if drift_gate else []), transform,
                  *([hyperparameters_node] if hyperparameters_node else []),
                  *([warm_start_resolver] if warm_start_resolver else []), trainer]
    # The Evaluator scores this run's examples (with spans: this span's eval split alone).
    evaluator_inputs = dict(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        training=config.training, hyperparameters=hyperparameters,
        pipeline_name=config.pipeline_name, model_run=trainer.outputs["model_run"],
        thresholds={name: parameter(name) for name in config.thresholds.as_parameters()})

    if mode is Mode.EXPERIMENT:
        # Metrics only: nothing blessed, so nothing pushed nor used as a later baseline.
        evaluator = GatedEvaluator(baseline_model=None, gate=False,
                                   **evaluator_inputs).with_id(names.EVALUATOR_ID)
        components.append(evaluator)
    else:
        # The baseline the change thresholds compare with.
        baseline_resolver = _served_model_resolver(mode, names.BASELINE_RESOLVER_ID,
                                                   trainer.outputs["model"])

        # TFMA on the eval split: RMSE and top-K; blesses past the thresholds.
        evaluator = GatedEvaluator(baseline_model=baseline_resolver.outputs["model"],
                                   **evaluator_inputs).with_id(names.EVALUATOR_ID)

        # The candidate loads with TensorFlow alone and answers its warm-up requests, as TF
        # Serving would load it (TFX's InfraBlessing; not its InfraValidator: no TF Serving).
        load_check = LoadCheck(
            model=trainer.outputs["model"],
            code_fingerprint=code_fingerprint(["components.load_check", "serving.tf_only_load"]))

        # A model blessed by both goes to TF Serving's model folder as a new version.
        pusher = AtomicPusher(
            model=trainer.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            infra_blessing=load_check.outputs["blessing"],
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(
                    base_directory=config.serving_dir))).with_id(names.PUSHER_ID)
        components += [baseline_resolver, evaluator, load_check, pusher]

    if mode is not Mode.KUBEFLOW:  # on Kubeflow the pipeline's Beam options rule
        # Locally: --beam-workers processes where the record counts are reconciled, and
        # Transform in one in-memory process (PipelineConfig.local_beam_args says why).
        for component in (example_gen, statistics_gen, evaluator):
            component.with_beam_pipeline_args(config.local_beam_args(multi_process=True))
        transform.with_beam_pipeline_args(config.local_beam_args(multi_process=False))

    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_pipeline_args))
