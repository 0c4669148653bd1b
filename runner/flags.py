"""Command-line flags shared by the runners: the training hyperparameters a user sets.

`--preset NAME` picks a named TrainingConfig (models.hparams.PRESETS; `seed` is the TFRS
tutorial); the other training flags override single fields of it when given.
"""

import argparse
import json

import names
from models.hparams import PRESETS, ConfigError, TrainingConfig
from pipeline.configs import EvalThresholds, PipelineConfig

# Flag → TrainingConfig field; unset flags keep the preset's value.
_TRAINING_FLAGS = {"--rating-weight": "rating_weight", "--retrieval-weight": "retrieval_weight",
                   "--epochs": "epochs", "--learning-rate": "learning_rate",
                   "--embedding-dim": "embedding_dim", "--seed": "seed",
                   "--optimizer": "optimizer", "--train-batch-size": "train_batch_size",
                   "--embedding-l2": "embedding_l2",
                   "--retrieval-temperature": "retrieval_temperature",
                   "--validation-percent": "validation_percent",
                   "--early-stopping-patience": "early_stopping_patience",
                   "--early-stopping-monitor": "early_stopping_monitor",
                   "--label-fraction": "label_fraction",
                   "--warm-start-epochs": "warm_start_epochs",
                   "--user-id-dropout": "user_id_dropout",
                   "--user-feature-dropout": "user_feature_dropout",
                   "--retrieval-negatives": "retrieval_negatives",
                   "--rating-factors": "rating_factors",
                   "--rating-factor-l2": "rating_factor_l2",
                   "--rating-bias-l2": "rating_bias_l2",
                   "--weight-averaging": "weight_averaging",
                   "--rating-dropout": "rating_dropout",
                   "--rating-head-epochs": "rating_head_epochs",
                   "--rating-head-learning-rate": "rating_head_learning_rate",
                   "--rating-head-dropout": "rating_head_dropout"}
_BOOLEAN_FLAGS = {"--rating-biases": "rating_biases",
                  "--sampling-bias-correction": "sampling_bias_correction",
                  "--remove-accidental-hits": "remove_accidental_hits",
                  "--jit-compile": "jit_compile",
                  "--warm-start": "warm_start",
                  "--movie-genres": "movie_genres",
                  "--user-features": "user_features",
                  "--refit": "refit",
                  "--rating-history": "rating_history",
                  "--title-tokens": "title_tokens",
                  "--rating-time-bias": "rating_time_bias",
                  "--query-time": "query_time",
                  "--rating-clip": "rating_clip",
                  "--rating-mlp-product": "rating_mlp_product"}
DEFAULT_PRESET = "seed"


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    defaults = TrainingConfig()
    parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                        help=f"named training config (default {DEFAULT_PRESET}: the TFRS "
                             "multitask tutorial); the flags below override its fields")
    for flag, field in _TRAINING_FLAGS.items():
        default = getattr(defaults, field)
        parser.add_argument(flag, dest=field, type=type(default), default=None,
                            help=f"(tutorial: {default})")
    for flag, field in _BOOLEAN_FLAGS.items():
        parser.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction,
                            default=None)
    parser.add_argument("--training-config-json", default=None,
                        help="JSON object of further TrainingConfig overrides")


def training_config_from_args(args: argparse.Namespace) -> TrainingConfig:
    overrides = {field: getattr(args, field)
                 for field in list(_TRAINING_FLAGS.values()) + list(_BOOLEAN_FLAGS.values())
                 if getattr(args, field) is not None}
    if args.training_config_json:
        try:
            overrides.update(json.loads(args.training_config_json))
        except (ValueError, TypeError) as error:
            raise ConfigError(f"--training-config-json is not a JSON object: {error}") from None
    return PRESETS[args.preset].with_overrides(overrides)


# Flag → EvalThresholds field; a negative value turns a threshold off.
_THRESHOLD_FLAGS = {"--max-rmse": "max_rmse", "--min-top-100": "min_top_100_accuracy",
                    "--max-rmse-increase": "max_rmse_increase",
                    "--max-top-100-decrease": "max_top_100_decrease",
                    "--min-ndcg-at-10": "min_ndcg_at_10"}


def add_threshold_flags(parser: argparse.ArgumentParser) -> None:
    defaults = EvalThresholds().as_parameters()
    for flag, field in _THRESHOLD_FLAGS.items():
        parser.add_argument(flag, dest=field, type=float, default=defaults[field],
                            help=f"blessing threshold (default {defaults[field]}; < 0 = off)")


def thresholds_from_args(args: argparse.Namespace) -> EvalThresholds:
    return EvalThresholds.from_parameters(
        {field: getattr(args, field) for field in _THRESHOLD_FLAGS.values()})


def add_beam_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="a Beam pipeline option for every Beam component (repeatable; "
                             "replaces the defaults), e.g. --beam-arg=--direct_num_workers=2")


def add_beam_workers_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam-workers", type=int, default=0, metavar="N",
                        help="DirectRunner processes of ExampleGen, StatisticsGen and the "
                             "Evaluator, after --beam-arg (default 0: as many as cores, at most "
                             "4, for ratings over 16 MB; else 1). Transform always runs in one "
                             "process (docs/benchmarks.md: on several it lost input)")


def beam_args_from_args(args: argparse.Namespace):
    return tuple(args.beam_arg) or PipelineConfig.beam_pipeline_args


def add_tuner_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tune", type=int, default=0, metavar="TRIALS",
                        help="run the Tuner (models/tuner.py) with this many trials before the "
                             "Trainer (default 0: off; slow)")


def add_span_flags(parser: argparse.ArgumentParser) -> None:
    """--span and --window: continuous training on a drops folder (local runs only)."""
    spans = parser.add_argument_group(
        "spans (continuous training)",
        "with --data a drops folder: span-1/, span-2/, ... (or span-1.zip, ...), one GroupLens "
        "dataset per span; each run ingests one span (--split time recommended: a span's eval "
        "is then its latest ratings)")
    spans.add_argument("--span", type=int, default=None, metavar="N",
                       help="the span to ingest (default: the newest)")
    spans.add_argument("--window", type=int, default=1, metavar="N",
                       help="train on the train splits of the last N spans up to the ingested "
                            "one (default 1: that span alone); Transform's vocabularies cover "
                            "every span so far; evaluation scores the ingested span's eval split")
    spans.add_argument("--drift-mode", choices=names.DRIFT_MODES, default="stop",
                       help="past a drift threshold between this span and the previous accepted "
                            "one: stop the run before Transform (default) or only warn")


def span_fields_from_args(args: argparse.Namespace) -> dict:
    """The DataConfig fields the span flags set."""
    return {"span": args.span, "window": args.window}


def drift_mode_from_args(args: argparse.Namespace) -> str:
    return args.drift_mode


def add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
    """The flags both runners take: training, blessing thresholds, Beam and the Tuner."""
    add_training_flags(parser)
    add_threshold_flags(parser)
    add_beam_flag(parser)
    add_beam_workers_flag(parser)
    add_tuner_flag(parser)


def pipeline_fields_from_args(args: argparse.Namespace) -> dict:
    """The PipelineConfig fields those flags set."""
    return {"training": training_config_from_args(args),
            "thresholds": thresholds_from_args(args),
            "beam_pipeline_args": beam_args_from_args(args),
            "beam_workers": args.beam_workers,
            "tuner_trials": args.tune}
