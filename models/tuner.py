"""The optional TFX Tuner: KerasTuner over the loss weights, learning rate, embedding size and
epochs, scored on the validation split carved from train (never on eval).

Objective (minimised): validation RMSE − validation top-100 accuracy. Both tasks count, on
scales that move alike in practice (RMSE ≈ 0.9–1.2, top-100 ≈ 0.05–0.40): a point of
top-100 accuracy is worth a point of RMSE. The best values reach the Trainer through its
`hyperparameters` input, laid over the compiled TrainingConfig like run-time parameters.
"""

import json
from typing import Any, Dict, Optional

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

import names
from models import side_features, training
from models.data import load_columns, vocabulary_sizes
from models.hparams import TRAINING_CONFIG_KEY, TUNING_KEY, TrainingConfig
from models.side_features import SideFeatures

OBJECTIVE = names.RMSE_MINUS_TOP_100
RMSE_LOG = training.VALIDATION_LOGS["rmse"]
TOP_100_LOG = training.VALIDATION_LOGS["top_100"]


def search_space(hp: keras_tuner.HyperParameters, base: TrainingConfig) -> None:
    """The tuned TrainingConfig fields (names are field names, so the Trainer applies them)."""
    hp.Choice("rating_weight", [0.1, 0.3, 1.0, 3.0], default=base.rating_weight
              if base.rating_weight in (0.1, 0.3, 1.0, 3.0) else None)
    hp.Choice("retrieval_weight", [0.3, 1.0])
    hp.Float("learning_rate", min_value=base.learning_rate / 10,
             max_value=base.learning_rate * 3, sampling="log", default=base.learning_rate)
    hp.Choice("embedding_dim", [32, 64, 128])
    hp.Int("epochs", min_value=max(1, base.epochs // 2), max_value=base.epochs * 2,
           default=base.epochs)


def objective(history: Dict[str, Any], best_epoch: int,
              rating_head_epochs: int = 0) -> Dict[str, float]:
    """The validation metrics at the kept epoch and the combined objective; with epochs of the
    rating head alone kept after the joint ones, the RMSE is theirs (top-100 does not move)."""
    rmse = history[RMSE_LOG][best_epoch - 1]
    if rating_head_epochs:
        rmse = history[names.RATING_HEAD_HISTORY_PREFIX + RMSE_LOG][rating_head_epochs - 1]
    top_100 = history[TOP_100_LOG][best_epoch - 1]
    return {OBJECTIVE: rmse - top_100, "val_rmse": rmse, "val_top_100": top_100}


class MultiTaskTuner(keras_tuner.RandomSearch):
    """Random search whose trial trains our model with `models.training.fit`."""

    def __init__(self, base: TrainingConfig, train, num_users: int, num_movies: int,
                 side: Optional[SideFeatures] = None, **kwargs) -> None:
        self.base, self.train, self.side = base, train, side
        self.num_users, self.num_movies = num_users, num_movies
        hyperparameters = keras_tuner.HyperParameters()
        search_space(hyperparameters, base)
        super().__init__(hyperparameters=hyperparameters, tune_new_entries=False,
                         objective=keras_tuner.Objective(OBJECTIVE, direction="min"), **kwargs)

    def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
        # No refit in a trial: it would train again without changing the validation figures
        # the trial is scored by (the Trainer refits the chosen values, if asked to).
        config = self.base.with_overrides({**trial.hyperparameters.values, "refit": False})
        result = training.fit(config, self.train, self.num_users, self.num_movies, verbose=0,
                              side=self.side)
        return objective(result.history, result.best_epoch or result.epochs_trained,
                         result.rating_head_epochs)


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    tuning = json.loads(fn_args.custom_config[TUNING_KEY])
    base = TrainingConfig.from_json(fn_args.custom_config[TRAINING_CONFIG_KEY]).with_overrides(
        {"validation_percent": tuning["validation_percent"]})
    tf.config.experimental.enable_op_determinism()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train = load_columns(fn_args.train_files, tf_transform_output,  # eval: never read
                         base.side_feature_columns())
    num_users, num_movies = vocabulary_sizes(tf_transform_output)
    tuner = MultiTaskTuner(
        base, train, num_users, num_movies,
        side_features.from_transform(tf_transform_output, [train], num_users, num_movies),
        max_trials=tuning["max_trials"], seed=base.seed, directory=fn_args.working_dir,
        project_name="movielens_multitask", overwrite=True)
    return TunerFnResult(tuner=tuner, fit_kwargs={})
