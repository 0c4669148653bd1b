"""The Trainer's carving of the train split: label fraction, validation split, rating masks,
and per-user Recall@K. Pure TensorFlow / NumPy: seconds."""

import numpy as np
import pytest
import tensorflow as tf

import names
from models.data import keep_label_fraction, split_holdout, split_validation, training_splits
from models.evaluation import user_ranking_metrics
from models.hparams import ConfigError, TrainingConfig
from models.preprocessing import rating_and_mask


def _columns(size: int = 5000, seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        names.USER_INDEX: tf.constant(rng.integers(0, 300, size), tf.int64),
        names.MOVIE_INDEX: tf.constant(rng.integers(0, 500, size), tf.int64),
        names.RATING_LABEL: tf.constant(rng.integers(1, 6, size), tf.float32),
        names.RATING_MASK: tf.ones([size]),
    }


def _pairs(columns):
    return list(zip(columns[names.USER_INDEX].numpy().tolist(),
                    columns[names.MOVIE_INDEX].numpy().tolist()))


def test_missing_or_nan_ratings_get_mask_zero():
    sparse = tf.SparseTensor(indices=[[0, 0], [2, 0]], values=[4.0, 2.0], dense_shape=[3, 1])
    labels, mask = rating_and_mask(sparse)
    assert labels.numpy().tolist() == [4.0, 0.0, 2.0]
    assert mask.numpy().tolist() == [1.0, 0.0, 1.0]
    labels, mask = rating_and_mask(tf.constant([3.0, float("nan"), 5.0]))
    assert labels.numpy().tolist() == [3.0, 0.0, 5.0]
    assert mask.numpy().tolist() == [1.0, 0.0, 1.0]


def test_label_fraction_keeps_a_seeded_share_of_pairs_and_every_example():
    columns = _columns()
    kept = keep_label_fraction(columns, 0.25, seed=7)
    mask = kept[names.RATING_MASK].numpy()
    assert len(mask) == 5000 and 0.22 < mask.mean() < 0.28
    assert np.all(kept[names.RATING_LABEL].numpy()[mask == 0] == 0)
    again = keep_label_fraction(columns, 0.25, seed=7)
    np.testing.assert_array_equal(again[names.RATING_MASK].numpy(), mask)
    other = keep_label_fraction(columns, 0.25, seed=8)
    assert not np.array_equal(other[names.RATING_MASK].numpy(), mask)
    # Chosen per pair, not per position: reordering the examples moves the choice with them.
    order = np.random.default_rng(1).permutation(5000)
    shuffled = {k: tf.gather(v, order) for k, v in columns.items()}
    np.testing.assert_array_equal(
        keep_label_fraction(shuffled, 0.25, seed=7)[names.RATING_MASK].numpy(), mask[order])
    # Nested: the 10 % kept are among the 25 % kept (same hash, lower threshold).
    smaller = keep_label_fraction(columns, 0.10, seed=7)[names.RATING_MASK].numpy()
    assert np.all(mask[smaller == 1] == 1)


def _assert_a_tenth_carved(rest, carved, total: int = 5000) -> None:
    assert len(_pairs(rest)) + len(_pairs(carved)) == total
    assert 0.08 < len(_pairs(carved)) / total < 0.12
    assert not set(_pairs(rest)) & set(_pairs(carved))


def test_validation_split_is_a_deterministic_disjoint_carve_of_train():
    columns = _columns()
    fit, validation = split_validation(columns, 10, seed=3)
    _assert_a_tenth_carved(fit, validation)
    fit_again, _ = split_validation(columns, 10, seed=3)
    assert _pairs(fit_again) == _pairs(fit)


def test_the_experiments_holdout_is_independent_of_the_validation_carve_out():
    """A holdout carved with the validation split's own hash would leave the validation
    carve-out of the rest empty: their hashes must be independent."""
    columns = _columns()
    rest, holdout = split_holdout(columns, 10, seed=3)
    _assert_a_tenth_carved(rest, holdout)
    fit, validation = split_validation(rest, 10, seed=3)
    _assert_a_tenth_carved(fit, validation, total=len(_pairs(rest)))


def test_rating_only_training_drops_unrated_examples():
    config = TrainingConfig(rating_weight=1.0, retrieval_weight=0.0, label_fraction=0.1)
    fit, _ = training_splits(_columns(), config)
    assert np.all(fit[names.RATING_MASK].numpy() == 1)
    joint, _ = training_splits(_columns(), TrainingConfig(label_fraction=0.1))
    assert len(joint[names.RATING_MASK].numpy()) == 5000


def test_recall_removes_rated_titles_and_averages_over_users():
    # 2 users (+ OOV row), 4 titles. User 0 rated title 0 in train; eval: titles 1 and 3.
    scores = np.array([[9.0, 1.0, 5.0, 3.0], [0.0, 9.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    train = {names.USER_INDEX: np.array([0]), names.MOVIE_INDEX: np.array([0])}
    evaluation = {names.USER_INDEX: np.array([0, 0, 1]),
                  names.MOVIE_INDEX: np.array([1, 3, 1])}
    metrics = user_ranking_metrics(lambda users: scores[users], 4, train, evaluation, ks=(1, 2))
    # User 0 ranks 2, 3, 1 once title 0 is removed: top-1 no hit, top-2 one of two.
    assert metrics["recall_at_1"] == pytest.approx((0 + 1) / 2)
    assert metrics["recall_at_2"] == pytest.approx((0.5 + 1) / 2)
    assert metrics["ranked_users"] == 2


def test_new_levers_are_validated():
    with pytest.raises(ConfigError, match="validation_percent > 0"):
        TrainingConfig(early_stopping_patience=2)
    with pytest.raises(ConfigError, match="label_fraction"):
        TrainingConfig(label_fraction=0.0)
    with pytest.raises(ConfigError, match="retrieval_temperature"):
        TrainingConfig(retrieval_temperature=0.0)
    with pytest.raises(ConfigError, match="early_stopping_monitor"):
        TrainingConfig(early_stopping_monitor="auc")
    with pytest.raises(ConfigError, match="embedding_l2"):
        TrainingConfig(embedding_l2=-1.0)
    for dropout in (-0.1, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="user_id_dropout"):
            TrainingConfig(user_id_dropout=dropout)


def test_an_example_outside_transform_s_vocabulary_fails_the_trainer_with_counts():
    """Transform's vocabularies come from the very examples the Trainer reads, so an OOV index
    there means its analysis lost input (it did, on the multi-process DirectRunner at 10M)."""
    from models.data import IncompleteVocabularyError, check_in_vocabulary

    columns = _columns(size=100)  # users 0..299, movies 0..499
    check_in_vocabulary(columns, num_users=300, num_movies=500, split="train")
    with pytest.raises(IncompleteVocabularyError, match=r"(?s)\d+ of the 100 eval examples have a "
                                                        r"user id and 0 a title.*lost part"):
        check_in_vocabulary(columns, num_users=200, num_movies=500, split="eval")
