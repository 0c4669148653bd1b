"""The Trainer's entry point: build the weighted multi-task model, train it, export it."""

import json
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

import names
from models import export, training
from models.data import load_columns, vocabulary_sizes
from models.hparams import TRAINING_CONFIG_KEY, TrainingConfig


def _write_json(directory: str, name: str, value) -> None:
    with tf.io.gfile.GFile(os.path.join(directory, name), "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)


def run_fn(fn_args: FnArgs) -> None:
    config = TrainingConfig.from_json(fn_args.custom_config[TRAINING_CONFIG_KEY])
    if fn_args.hyperparameters:  # run-time values (HyperparametersGen or a Tuner) win
        config = config.with_overrides(fn_args.hyperparameters.get("values", {}))
    logging.info("Training config: %s", config.to_json())
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    config_file = os.path.join(fn_args.model_run_dir, names.TRAINING_CONFIG_FILE)
    with tf.io.gfile.GFile(config_file, "w") as f:
        f.write(config.to_json())  # what actually trained, run-time overrides included
    tf.config.experimental.enable_op_determinism()  # same config, same metrics
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    num_users, num_movies = vocabulary_sizes(tf_transform_output)

    train = load_columns(fn_args.train_files, tf_transform_output)
    evaluation = load_columns(fn_args.eval_files, tf_transform_output)
    tensorboard = tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")
    result = training.fit(config, train, num_users, num_movies, callbacks=[tensorboard])
    _write_json(fn_args.model_run_dir, names.TRAINING_LOG_FILE, {
        "epochs_trained": result.epochs_trained, "best_epoch": result.best_epoch,
        "fit_examples": result.fit_examples, "validation_examples": result.validation_examples,
        "rated_fit_examples": result.rated_fit_examples, "history": result.history})

    # Keras's own evaluation (FactorizedTopK over the catalog), kept next to the TensorBoard
    # logs so TFMA's figures can be checked against it; per-user Recall@K in its own file.
    metrics = training.evaluate(result.model, config, train, evaluation, num_users)
    recall = {name: metrics.pop(name) for name in list(metrics)
              if name.startswith("recall_")}
    logging.info("Keras evaluation on the eval split: %s; per-user recall: %s", metrics, recall)
    _write_json(fn_args.model_run_dir, names.KERAS_METRICS_FILE, metrics)
    _write_json(fn_args.model_run_dir, names.RECALL_METRICS_FILE, recall)

    export.save_serving_model(result.model, tf_transform_output, fn_args.serving_model_dir,
                              max_k=config.serving_max_k)
