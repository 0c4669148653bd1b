"""Polyak averaging (models/weight_average.py) and the rating head's dropout: the steps train
the raw weights as without the average; validation, early stopping and the fitted model get the
average. Seconds."""

import numpy as np
import pytest
import tensorflow as tf

import names
from models import training
from models.data import to_dataset, training_splits
from models.hparams import ConfigError
from models.weight_average import WeightAverage
from tests.test_early_stopping import NUM_MOVIES, NUM_USERS, _columns, _config

DECAY = 0.9


class _RawWeights(tf.keras.callbacks.Callback):
    """The first weight of the model after every training step (before the average is taken)."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.model.trainable_variables[0].numpy().copy())


def _fit_regression(callbacks, epochs=3, validate=True):
    """A linear model on 64 examples, 8 steps per epoch (SGD: the path depends on the weights)."""
    tf.keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.1
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
                        validation_data=(x, y) if validate else None, callbacks=callbacks)
    return model, history.history, (x, y)


def test_the_steps_are_unchanged_and_the_model_ends_with_the_average():
    plain_raw, averaged_raw = _RawWeights(), _RawWeights()
    _fit_regression([plain_raw])
    model, history, (x, y) = _fit_regression([averaged_raw, WeightAverage(DECAY)])
    # Averaging leaves training alone: the same raw weights after every step, epochs included.
    assert len(averaged_raw.steps) == 24
    for plain, averaged in zip(plain_raw.steps, averaged_raw.steps):
        np.testing.assert_array_equal(plain, averaged)

    # The fitted model holds the average, not the last step's weights.
    kernel = model.trainable_variables[0].numpy()
    assert not np.allclose(kernel, averaged_raw.steps[-1])
    # The average starts from the initial weights; rebuild them with the same seed.
    tf.keras.utils.set_random_seed(0)
    initial = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    average = initial.trainable_variables[0].numpy()
    for n, weight in enumerate(averaged_raw.steps, start=1):
        decay = min(DECAY, (1 + n) / (10 + n))
        average = decay * average + (1 - decay) * weight
    np.testing.assert_allclose(kernel, average, rtol=1e-5, atol=1e-6)

    # Validation measured the average: the last epoch's val loss is the final model's loss.
    np.testing.assert_allclose(history["val_loss"][-1], model.evaluate(x, y, verbose=0),
                               rtol=1e-5)


def test_without_validation_the_model_still_ends_with_the_average():
    raw = _RawWeights()
    model, _, _ = _fit_regression([raw, WeightAverage(DECAY)], validate=False)
    assert not np.allclose(model.trainable_variables[0].numpy(), raw.steps[-1])


def test_early_stopping_keeps_the_best_epochs_average():
    config = _config(validation_percent=20, early_stopping_patience=1,
                     early_stopping_monitor="rmse", weight_averaging=0.9, epochs=8)
    result = training.fit(config, _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    best = result.history["val_root_mean_squared_error"][result.best_epoch - 1]
    # The kept model measures on the validation split what its epoch's validation said.
    _, validation = training_splits(_columns(), config)
    metrics = result.model.evaluate(to_dataset(validation, 256, False, config.seed),
                                    return_dict=True, verbose=0)
    np.testing.assert_allclose(metrics[names.RMSE_METRIC], best, rtol=1e-5)


def test_the_levers_change_the_trained_model_and_are_validated():
    base = training.fit(_config(epochs=2), _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    for lever in ({"weight_averaging": 0.9}, {"rating_dropout": 0.3}):
        other = training.fit(_config(epochs=2, **lever), _columns(), NUM_USERS, NUM_MOVIES,
                             verbose=0)
        assert not np.allclose(base.model.rating_head.mlp.weights[0].numpy(),
                               other.model.rating_head.mlp.weights[0].numpy()), lever
    for name in ("weight_averaging", "rating_dropout"):
        for bad in (-0.1, 1.0, float("nan")):
            with pytest.raises(ConfigError, match=name):
                _config(**{name: bad})


def test_dropout_acts_in_training_only():
    model = training.fit(_config(epochs=1, rating_dropout=0.5), _columns(), NUM_USERS,
                         NUM_MOVIES, verbose=0).model
    inputs = {names.USER_INDEX: tf.range(8, dtype=tf.int64),
              names.MOVIE_INDEX: tf.range(8, dtype=tf.int64)}
    served = model(inputs)[names.RATING_OUTPUT].numpy()
    np.testing.assert_array_equal(served, model(inputs)[names.RATING_OUTPUT].numpy())
    trained = model(inputs, training=True)[names.RATING_OUTPUT].numpy()
    assert not np.allclose(served, trained)


def test_dropout_draws_the_same_masks_in_every_seeded_run_under_xla():
    config = _config(epochs=2, rating_dropout=0.3, jit_compile=True)
    first, second = (training.fit(config, _columns(), NUM_USERS, NUM_MOVIES, verbose=0).model
                     for _ in range(2))
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
