"""The Trainer's input order: every row once per epoch, a new seeded order each epoch, the
same orders (and so the same model) for the same data and seed. Seconds."""

import numpy as np
import tensorflow as tf

import names
from models import training
from models.data import sample_rows, to_dataset
from models.hparams import TrainingConfig


def _columns(size: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        names.USER_INDEX: tf.constant(rng.integers(0, 40, size), tf.int64),
        names.MOVIE_INDEX: tf.constant(np.arange(size), tf.int64),  # the row's identity
        names.RATING_LABEL: tf.constant(rng.integers(1, 6, size), tf.float32),
        names.RATING_MASK: tf.ones([size]),
    }


def _epoch_orders(dataset: tf.data.Dataset, epochs: int):
    """The rows (by movie index) of each epoch, one iterator per epoch as Keras makes them."""
    return [np.concatenate([batch[names.MOVIE_INDEX].numpy() for batch in dataset])
            for _ in range(epochs)]


def test_each_epoch_sees_every_row_once_in_a_new_seeded_order():
    columns = _columns()
    first, second = _epoch_orders(to_dataset(columns, 64, shuffle=True, seed=5), 2)
    for order in (first, second):
        np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(1000))
    again = _epoch_orders(to_dataset(columns, 64, shuffle=True, seed=5), 2)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)
    other = _epoch_orders(to_dataset(columns, 64, shuffle=True, seed=6), 1)[0]
    assert not np.array_equal(other, first)


def test_batches_keep_rows_whole_and_the_last_batch_short():
    columns = _columns()
    dataset = to_dataset(columns, 64, shuffle=True, seed=5)
    assert int(dataset.cardinality()) == 16
    batches = list(dataset)
    assert [len(b[names.MOVIE_INDEX]) for b in batches] == [64] * 15 + [40]
    for batch in batches:  # each row's values travel together
        rows = batch[names.MOVIE_INDEX].numpy()
        for name, values in columns.items():
            np.testing.assert_array_equal(batch[name].numpy(), tf.gather(values, rows).numpy())


def test_unshuffled_batches_are_the_rows_in_order():
    columns = _columns(100)
    batches = list(to_dataset(columns, 32, shuffle=False, seed=5))
    assert [len(b[names.USER_INDEX]) for b in batches] == [32, 32, 32, 4]
    for name, values in columns.items():
        np.testing.assert_array_equal(np.concatenate([b[name].numpy() for b in batches]),
                                      values.numpy())


def test_two_fits_with_the_same_seed_give_identical_weights():
    tf.config.experimental.enable_op_determinism()
    config = TrainingConfig(embedding_dim=8, rating_layers=(16,), top_ks=(1, 5), epochs=2,
                            train_batch_size=128, eval_batch_size=128, learning_rate=0.1,
                            validation_percent=0)

    def weights():
        result = training.fit(config, _columns(), num_users=40, num_movies=1000, verbose=0)
        return [w.numpy() for w in result.model.weights]

    first, second = weights(), weights()
    assert len(first) == len(second) > 0
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_an_evaluation_sample_is_seeded_and_keeps_the_row_order():
    columns = _columns()
    sample = sample_rows(columns, 100, seed=3)
    rows = sample[names.MOVIE_INDEX].numpy()
    assert len(rows) == 100 and len(set(rows)) == 100 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(sample_rows(columns, 100, seed=3)[names.MOVIE_INDEX], rows)
    assert not np.array_equal(sample_rows(columns, 100, seed=4)[names.MOVIE_INDEX], rows)
    assert sample_rows(columns, 1000, seed=3) is columns  # no more rows than that: all of them


def test_fit_records_each_epoch_and_the_first_step_in_the_trainer_phases():
    """What trainer_phases.json reports of `fit` (docs/benchmarks.md reads the overhead off
    it): the carving, the model's build, Keras's fit, each epoch, and the first step."""
    config = TrainingConfig(embedding_dim=8, rating_layers=(16,), top_ks=(1, 5), epochs=2,
                            train_batch_size=128, eval_batch_size=128, validation_percent=10)
    phases: training.Phases = {}
    training.fit(config, _columns(), num_users=40, num_movies=1000, verbose=0, phases=phases)
    assert set(phases) == {"fit: carving the validation split", "fit: building the model",
                           "fit: Keras's fit", "fit: first step", "fit: epoch 1",
                           "fit: epoch 2"}
    epochs = phases["fit: epoch 1"]["seconds"] + phases["fit: epoch 2"]["seconds"]
    assert 0 < phases["fit: first step"]["seconds"] <= phases["fit: epoch 1"]["seconds"]
    assert epochs <= phases["fit: Keras's fit"]["seconds"] + 0.05
    assert all(record["peak_rss_gb"] > 0 for record in phases.values())
