"""TFMA's top-K from the model's rank equals Keras's SparseTopKCategoricalAccuracy on scores."""

import numpy as np
import pytest
import tensorflow as tf

from models.eval_metrics import TopKAccuracyFromRank, catalog_rank

NUM_TITLES = 40


def _scores_and_labels(seed: int = 0):
    rng = np.random.default_rng(seed)
    # Rounded scores: many ties, some of them with the true title at the K boundary.
    scores = np.round(rng.normal(size=(200, NUM_TITLES)), 1).astype(np.float32)
    labels = rng.integers(0, NUM_TITLES, 200)
    labels[:5] = NUM_TITLES  # the OOV index (vocabulary size): never a hit
    scores[5, 3] = np.nan  # a non-finite score anywhere in the row: never a hit
    scores[6, :] = np.nan
    scores[7, labels[7]] = np.inf
    return scores, labels


def _from_rank(k, scores, labels, weights=None):
    metric = TopKAccuracyFromRank(k)
    metric.update_state(labels, catalog_rank(tf.constant(scores), tf.constant(labels)), weights)
    return float(metric.result())


@pytest.mark.parametrize("k", [1, 3, 10, 39])
def test_top_k_from_rank_is_keras_sparse_top_k(k):
    scores, labels = _scores_and_labels()
    keras = tf.keras.metrics.SparseTopKCategoricalAccuracy(k)
    keras.update_state(labels, scores)
    assert _from_rank(k, scores, labels) == pytest.approx(float(keras.result()), abs=1e-7)


def test_weighted_and_column_labels():
    scores, labels = _scores_and_labels(seed=1)
    weights = np.random.default_rng(2).uniform(0.1, 2.0, len(labels)).astype(np.float32)
    keras = tf.keras.metrics.SparseTopKCategoricalAccuracy(5)
    keras.update_state(labels, scores, weights)
    assert _from_rank(5, scores, labels[:, None], weights[:, None]) == pytest.approx(
        float(keras.result()), abs=1e-6)


def test_rank_counts_titles_strictly_above_and_refuses_unknowns():
    scores = tf.constant([[0.5, 0.9, 0.5, 0.1], [1.0, 2.0, 3.0, 4.0], [np.nan, 1, 2, 3],
                          [1.0, 2.0, 3.0, 4.0]])
    ranks = catalog_rank(scores, tf.constant([2, 3, 1, 4], tf.int64)).numpy()
    assert ranks.tolist() == [1.0, 0.0, np.inf, np.inf]  # a tie is not above; NaN row, OOV
    assert TopKAccuracyFromRank(1).get_config()["k"] == 1


def test_a_nan_model_scores_zero_not_one():
    scores = np.full((10, NUM_TITLES), np.nan, np.float32)
    assert _from_rank(100, scores, np.arange(10)) == 0.0
