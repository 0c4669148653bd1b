"""The Trainer's entry point: build the weighted multi-task model, train it, export it."""

import json
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from models import export
from models import features
from models.data import make_dataset
from models.hparams import TrainingConfig
from models.model import MovieLensModel, make_optimizer

TRAINING_CONFIG_KEY = "training_config"
KERAS_METRICS_FILE = "keras_eval_metrics.json"
TRAINING_CONFIG_FILE = "training_config.json"


def build_model(config: TrainingConfig, tf_transform_output: tft.TFTransformOutput) -> MovieLensModel:
    """A compiled model sized by the Transform vocabularies; seeds TF from the config first."""
    tf.keras.utils.set_random_seed(config.seed)
    model = MovieLensModel(
        config,
        num_users=tf_transform_output.vocabulary_size_by_name(features.USER_VOCABULARY),
        num_movies=tf_transform_output.vocabulary_size_by_name(features.MOVIE_VOCABULARY))
    model.compile(optimizer=make_optimizer(config))
    return model


def run_fn(fn_args: FnArgs) -> None:
    config = TrainingConfig.from_json(fn_args.custom_config[TRAINING_CONFIG_KEY])
    if fn_args.hyperparameters:  # run-time values (HyperparametersGen or a Tuner) win
        config = config.with_overrides(fn_args.hyperparameters.get("values", {}))
    logging.info("Training config: %s", config.to_json())
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, TRAINING_CONFIG_FILE), "w") as f:
        f.write(config.to_json())  # what actually trained, run-time overrides included
    tf.config.experimental.enable_op_determinism()  # same config, same metrics
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    model = build_model(config, tf_transform_output)

    train = make_dataset(fn_args.train_files, tf_transform_output, config.train_batch_size,
                         shuffle=True, seed=config.seed)
    evaluation = make_dataset(fn_args.eval_files, tf_transform_output, config.eval_batch_size,
                              shuffle=False, seed=config.seed)
    tensorboard = tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")
    model.fit(train, epochs=config.epochs, callbacks=[tensorboard], verbose=2)

    # Keras's own evaluation (FactorizedTopK over the catalog), kept next to the TensorBoard
    # logs so TFMA's figures can be checked against it.
    metrics = model.evaluate(evaluation, return_dict=True, verbose=0)
    metrics = {name: float(value) for name, value in metrics.items()}
    logging.info("Keras evaluation on the eval split: %s", metrics)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, KERAS_METRICS_FILE), "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)

    export.save_serving_model(model, tf_transform_output, fn_args.serving_model_dir,
                              max_k=config.serving_max_k)
