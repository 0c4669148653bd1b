"""The Trainer's entry point: build the weighted multi-task model, train it (under the
strategy TF_CONFIG describes), export it."""

import json
import logging
import os
from typing import Optional

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

import names
from models import distribute, export, side_features, training
from models.data import Columns, check_in_vocabulary, check_rows, load_columns, vocabulary_sizes
from models.hparams import TRAINING_CONFIG_KEY, TrainingConfig
from models.model import MovieLensModel
from models.side_features import SideFeatures
from models.warm_start import WarmStartSource, vocabulary_names


def _write_json(directory: str, name: str, value) -> None:
    with tf.io.gfile.GFile(os.path.join(directory, name), "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)


def train_and_report(config: TrainingConfig, train: Columns, evaluation: Columns,
                     num_users: int, num_movies: int, model_run_dir: str,
                     strategy: tf.distribute.Strategy,
                     phases: Optional[training.Phases] = None,
                     warm_start_source: Optional[WarmStartSource] = None,
                     side: Optional[SideFeatures] = None) -> MovieLensModel:
    """Fits under `strategy` (from the base model of `warm_start_source` if the config warm
    starts), evaluates, and writes TensorBoard logs and the JSON reports to `model_run_dir`
    (this worker's directory: see distribute.output_dir).

    Every worker calls this with identical arguments: fit and evaluate are collective under
    MWMS, and each worker's model ends with the same weights, so the per-user ranking metrics
    that each computes locally from them are the same too.
    """
    tensorboard = tf.keras.callbacks.TensorBoard(log_dir=model_run_dir, update_freq="epoch")
    with strategy.scope():  # variables, optimizer and metrics become distributed ones
        with training.timed("fit", phases):
            result = training.fit(config, train, num_users, num_movies, callbacks=[tensorboard],
                                  warm_start_source=warm_start_source, side=side,
                                  phases=phases)
        measured = training.evaluate(result.model, config, train, evaluation, phases=phases)
    _write_json(model_run_dir, names.TRAINING_LOG_FILE, {
        "epochs_trained": result.epochs_trained, "best_epoch": result.best_epoch,
        "fit_examples": result.fit_examples, "validation_examples": result.validation_examples,
        "rated_fit_examples": result.rated_fit_examples, "history": result.history,
        "refitted": result.refitted, "rating_head_epochs": result.rating_head_epochs,
        "num_replicas": strategy.num_replicas_in_sync})
    _write_json(model_run_dir, names.WARM_START_FILE, result.warm_start.to_dict())

    # Keras's own evaluation (FactorizedTopK over the catalog), kept next to the TensorBoard
    # logs so TFMA's figures can be checked against it; the per-user ranking metrics of the
    # model and of the popularity baseline in their own files.
    logging.info("Keras evaluation on the eval split: %s; per-user ranking: %s; popularity "
                 "baseline: %s", measured.keras, measured.ranking, measured.popularity)
    _write_json(model_run_dir, names.KERAS_METRICS_FILE, measured.keras)
    _write_json(model_run_dir, names.RANKING_METRICS_FILE, measured.ranking)
    _write_json(model_run_dir, names.POPULARITY_METRICS_FILE, measured.popularity)
    _write_json(model_run_dir, names.RANKING_BY_USER_GROUP_FILE, measured.by_user_group)
    return result.model


def run_fn(fn_args: FnArgs) -> None:
    """TFX's entry point. Runs under the strategy TF_CONFIG describes (models/distribute.py):
    locally there is none and this is plain single-process training; on Vertex AI Training
    with N replicas every replica runs this, and only the chief's outputs are kept."""
    strategy = distribute.strategy_from_tf_config()  # first: MWMS connects the workers
    logging.info("Training with %s, %d replica(s)", type(strategy).__name__,
                 strategy.num_replicas_in_sync)
    config = TrainingConfig.from_json(fn_args.custom_config[TRAINING_CONFIG_KEY])
    if fn_args.hyperparameters:  # run-time values (HyperparametersGen or a Tuner) win
        config = config.with_overrides(fn_args.hyperparameters.get("values", {}))
    logging.info("Training config: %s", config.to_json())
    with distribute.output_dir(fn_args.model_run_dir, strategy) as model_run_dir, \
            distribute.output_dir(fn_args.serving_model_dir, strategy) as serving_model_dir:
        tf.io.gfile.makedirs(model_run_dir)
        config_file = os.path.join(model_run_dir, names.TRAINING_CONFIG_FILE)
        with tf.io.gfile.GFile(config_file, "w") as f:
            f.write(config.to_json())  # what actually trained, run-time overrides included
        tf.config.experimental.enable_op_determinism()  # same config, same metrics
        tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
        num_users, num_movies = vocabulary_sizes(tf_transform_output)
        phases: training.Phases = {}
        with training.timed("loading the train and eval columns", phases):
            train = load_columns(fn_args.train_files, tf_transform_output,
                                 config.side_feature_columns())
            evaluation = load_columns(fn_args.eval_files, tf_transform_output,
                                      config.side_feature_columns())
            check_rows(train, "train", fn_args.custom_config)
            check_rows(evaluation, "eval", fn_args.custom_config)
            check_in_vocabulary(train, num_users, num_movies, "train")
            check_in_vocabulary(evaluation, num_users, num_movies, "eval")
            side = side_features.from_transform(tf_transform_output, [train, evaluation],
                                                num_users, num_movies)
        # TFX's base_model input (the served model, when the pipeline gives one): its
        # SavedModel folder, which a warm start reads and maps to these vocabularies.
        warm_start_source = WarmStartSource(
            base_model=fn_args.base_model,
            vocabularies={name: tf_transform_output.vocabulary_by_name(name)
                          for name in vocabulary_names(config)})
        model = train_and_report(config, train, evaluation, num_users, num_movies,
                                 model_run_dir, strategy, phases, warm_start_source, side)
        # Every worker saves (saving may need collectives); only the chief's copy is kept.
        with training.timed("export", phases):
            export.save_serving_model(model, tf_transform_output, serving_model_dir,
                                      export.ServingLimits.from_config(config))
        _write_json(model_run_dir, names.TRAINER_PHASES_FILE, phases)
    if not distribute.strategy_is_chief(strategy):
        # TFX's executor fails a run_fn after which serving_model_dir does not exist; the chief
        # fills it, this worker only makes sure the (possibly still empty) directory exists.
        tf.io.gfile.makedirs(fn_args.serving_model_dir)
