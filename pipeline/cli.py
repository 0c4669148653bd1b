"""Command-line flags shared by the runners: the training hyperparameters a user sets."""

import argparse

from models.hparams import TrainingConfig
from pipeline.configs import EvalThresholds, PipelineConfig

# Flag → TrainingConfig field; defaults come from TrainingConfig itself.
_TRAINING_FLAGS = {"--rating-weight": "rating_weight", "--retrieval-weight": "retrieval_weight",
                   "--epochs": "epochs", "--learning-rate": "learning_rate",
                   "--embedding-dim": "embedding_dim", "--seed": "seed"}


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    defaults = TrainingConfig()
    for flag, field in _TRAINING_FLAGS.items():
        default = getattr(defaults, field)
        parser.add_argument(flag, type=type(default), default=default)


def training_config_from_args(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(**{field: getattr(args, field) for field in _TRAINING_FLAGS.values()})


# Flag → EvalThresholds field; a negative value turns a threshold off.
_THRESHOLD_FLAGS = {"--max-rmse": "max_rmse", "--min-top-100": "min_top_100_accuracy",
                    "--max-rmse-increase": "max_rmse_increase",
                    "--max-top-100-decrease": "max_top_100_decrease"}


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


def beam_args_from_args(args: argparse.Namespace):
    return tuple(args.beam_arg) or PipelineConfig.beam_pipeline_args
