"""Command-line flags shared by the runners: the training hyperparameters a user sets."""

import argparse

from models.hparams import TrainingConfig

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
