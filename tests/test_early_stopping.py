"""What early stopping chooses: the epoch by the combined validation metric, and with `refit` a
model trained on the whole train split for that many epochs, with the same seed. Seconds."""

import numpy as np
import pytest
import tensorflow as tf

import names
from models import training
from models.hparams import ConfigError, TrainingConfig

NUM_USERS, NUM_MOVIES, ROWS = 40, 60, 1200


def _columns():
    rng = np.random.default_rng(0)
    users = rng.integers(0, NUM_USERS, ROWS)
    movies = (users * 7 + rng.integers(0, 5, ROWS)) % NUM_MOVIES  # something to learn
    return {
        names.USER_INDEX: tf.constant(users, tf.int64),
        names.MOVIE_INDEX: tf.constant(movies, tf.int64),
        names.RATING_LABEL: tf.constant(1 + (users + movies) % 5, tf.float32),
        names.RATING_MASK: tf.ones([ROWS]),
    }


def _config(**overrides) -> TrainingConfig:
    values = dict(embedding_dim=8, rating_layers=(16,), top_ks=(1, 5), epochs=6,
                  train_batch_size=128, eval_batch_size=256, optimizer="adam",
                  learning_rate=0.01)
    return TrainingConfig(**{**values, **overrides})


def test_refit_trains_on_the_whole_split_for_the_epochs_early_stopping_chose():
    tf.config.experimental.enable_op_determinism()
    phases: training.Phases = {}
    config = _config(validation_percent=20, early_stopping_patience=1,
                     early_stopping_monitor="rmse", refit=True)
    result = training.fit(config, _columns(), NUM_USERS, NUM_MOVIES, verbose=0, phases=phases)
    assert result.refitted and result.best_epoch is not None
    assert result.fit_examples == result.rated_fit_examples == ROWS  # the carve-out too
    assert 150 < result.validation_examples < 350  # what chose the epoch
    assert len(result.history["val_loss"]) == result.epochs_trained  # the selection run's
    assert len(result.history["refit_loss"]) == result.best_epoch
    assert "refit: fit: epoch 1" in phases and "fit: refit on the whole train split" in phases

    # Exactly the model a plain run on the whole split for that many epochs trains.
    plain = training.fit(_config(epochs=result.best_epoch), _columns(), NUM_USERS, NUM_MOVIES,
                         verbose=0)
    assert not plain.refitted and plain.fit_examples == ROWS
    for refitted, direct in zip(result.model.weights, plain.model.weights):
        np.testing.assert_array_equal(refitted.numpy(), direct.numpy())


def test_without_refit_the_model_is_the_early_stopped_one():
    result = training.fit(_config(validation_percent=20, early_stopping_patience=1),
                          _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    assert not result.refitted
    assert result.fit_examples + result.validation_examples == ROWS
    assert not any(name.startswith("refit_") for name in result.history)


def test_refit_needs_early_stopping():
    with pytest.raises(ConfigError, match="refit needs early stopping"):
        _config(refit=True)
    with pytest.raises(ConfigError, match="refit needs early stopping"):
        _config(refit=True, validation_percent=10)


def test_early_stopping_on_rmse_minus_top_100_keeps_the_epoch_where_it_is_lowest():
    config = _config(validation_percent=20, early_stopping_patience=2,
                     early_stopping_monitor="rmse_minus_top_100", top_ks=(1, 5, 100))
    result = training.fit(config, _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    history = result.history
    combined = np.array(history["val_rmse_minus_top_100"])
    np.testing.assert_allclose(
        combined, np.array(history["val_root_mean_squared_error"])
        - np.array(history["val_factorized_top_k/top_100_categorical_accuracy"]), atol=1e-6)
    assert result.best_epoch == int(np.argmin(combined)) + 1


def test_the_combined_monitor_needs_a_top_100():
    with pytest.raises(ConfigError, match="rmse_minus_top_100 needs 100 in top_ks"):
        _config(validation_percent=10, early_stopping_patience=1,
                early_stopping_monitor="rmse_minus_top_100", top_ks=(1, 5))


def test_the_rating_head_alone_trains_after_the_joint_epochs_and_leaves_retrieval_alone():
    tf.config.experimental.enable_op_determinism()
    common = dict(validation_percent=20, early_stopping_patience=1,
                  early_stopping_monitor="rmse_minus_top_100", top_ks=(1, 5, 100),
                  rating_biases=True, rating_factors=4)
    joint = training.fit(_config(**common), _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    phased = training.fit(_config(**common, rating_head_epochs=5), _columns(), NUM_USERS,
                          NUM_MOVIES, verbose=0)
    assert phased.best_epoch == joint.best_epoch  # the joint epochs chose as before
    # The towers are the joint model's, to the bit: retrieval is unchanged.
    for tower in ("user_tower", "movie_tower"):
        for ours, theirs in zip(getattr(phased.model, tower).weights,
                                getattr(joint.model, tower).weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    head_rmse = phased.history["rating_head_val_root_mean_squared_error"]
    joint_rmse = joint.history["val_root_mean_squared_error"][joint.best_epoch - 1]
    assert 1 <= len(head_rmse) <= 5
    if phased.rating_head_epochs:  # kept the best head epoch, which beat the joint model
        assert head_rmse[phased.rating_head_epochs - 1] == min(head_rmse) < joint_rmse
        assert not np.array_equal(phased.model.rating_head.weights[0].numpy(),
                                  joint.model.rating_head.weights[0].numpy())
    else:  # no head epoch beat it: the joint model's head is back
        assert min(head_rmse) >= joint_rmse
        for ours, theirs in zip(phased.model.rating_head.weights,
                                joint.model.rating_head.weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_a_refit_trains_the_rating_head_alone_for_the_epochs_chosen():
    tf.config.experimental.enable_op_determinism()
    config = _config(validation_percent=20, early_stopping_patience=1,
                     early_stopping_monitor="rmse", rating_head_epochs=3, refit=True,
                     learning_rate=0.03)
    result = training.fit(config, _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    assert result.refitted
    refit_head = result.history.get("refit_rating_head_loss", [])
    assert len(refit_head) == result.rating_head_epochs


def test_rating_head_epochs_is_validated():
    with pytest.raises(ConfigError, match="rating_head_epochs must be >= 0"):
        _config(rating_head_epochs=-1)
    with pytest.raises(ConfigError, match="rating_head_epochs needs rating_weight"):
        _config(rating_head_epochs=2, rating_weight=0.0)


def test_the_rating_head_trains_alone_at_its_own_learning_rate_then_the_configs_again():
    config = _config(rating_biases=True, rating_head_epochs=1, rating_head_learning_rate=0.002,
                     epochs=1)
    result = training.fit(config, _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    model = result.model
    model.train_rating_head_only()
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)
    model.train_rating_head_only(False)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    with pytest.raises(ConfigError, match="rating_head_learning_rate needs rating_head_epochs"):
        _config(rating_head_learning_rate=0.002)
    with pytest.raises(ConfigError, match="rating_head_learning_rate must be >= 0"):
        _config(rating_head_epochs=1, rating_head_learning_rate=-1.0)


def test_rating_clip_takes_its_range_from_the_rated_fit_examples():
    columns = _columns()
    config = _config(rating_biases=True, rating_clip=True, epochs=1)
    model = training.fit(config, columns, NUM_USERS, NUM_MOVIES, verbose=0).model
    assert model.rating_head.clip_range == (1.0, 5.0)
    unrated = {**columns, names.RATING_MASK: tf.zeros([ROWS])}
    with pytest.raises(ConfigError, match="rating_clip needs rated examples"):
        training.fit(config, unrated, NUM_USERS, NUM_MOVIES, verbose=0)


def test_a_refit_after_no_head_epoch_was_kept_drops_the_heads_settings():
    """A head phase that only makes validation worse (a step of 50) keeps no epoch; the refit
    then trains no head epochs, and its config must not keep their dropout or step."""
    tf.config.experimental.enable_op_determinism()
    config = _config(validation_percent=20, early_stopping_patience=1,
                     early_stopping_monitor="rmse", rating_head_epochs=2, refit=True,
                     rating_head_dropout=0.2, rating_head_learning_rate=50.0)
    result = training.fit(config, _columns(), NUM_USERS, NUM_MOVIES, verbose=0)
    assert result.refitted and result.rating_head_epochs == 0
    assert "refit_rating_head_loss" not in result.history
