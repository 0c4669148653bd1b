"""Chunked per-user Recall@K gives the numbers of the dense implementation it replaced."""

from typing import Dict, Sequence

import numpy as np
import pytest

import names
from models.evaluation import user_recall_at_k


def _dense_recall(scores: np.ndarray, train: Dict[str, np.ndarray],
                  evaluation: Dict[str, np.ndarray], ks: Sequence[int]) -> Dict[str, float]:
    """The previous implementation (dense [users, titles] matrices, one argsort of every user),
    kept as the oracle."""
    num_users, num_movies = scores.shape[0] - names.NUM_OOV_BUCKETS, scores.shape[1]

    def pairs(columns):
        matrix = np.zeros((num_users + names.NUM_OOV_BUCKETS, num_movies), dtype=bool)
        users, movies = columns[names.USER_INDEX], columns[names.MOVIE_INDEX]
        known = movies < num_movies
        matrix[users[known], movies[known]] = True
        return matrix

    seen = pairs(train)
    relevant = pairs(evaluation) & ~seen
    users = np.flatnonzero(relevant.sum(axis=1) > 0)
    ranked = np.where(seen[users], -np.inf, scores[users])
    order = np.argsort(-ranked, axis=1, kind="stable")
    counts = relevant[users].sum(axis=1)
    metrics = {"recall_users": float(len(users))}
    for k in ks:
        hits = np.take_along_axis(relevant[users], order[:, :k], axis=1).sum(axis=1)
        metrics[f"recall_at_{k}"] = float(np.mean(hits / counts)) if len(users) else 0.0
    return metrics


def _columns(rng, rows: int, num_users: int, num_movies: int):
    # Indices up to num_users / num_movies: the OOV user and OOV titles occur too.
    return {names.USER_INDEX: rng.integers(0, num_users + 1, rows),
            names.MOVIE_INDEX: rng.integers(0, num_movies + 1, rows)}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunk_cells", [1, 97, 10_000])
def test_chunked_recall_equals_the_dense_one(seed, chunk_cells):
    rng = np.random.default_rng(seed)
    num_users, num_movies = 50, 40
    # Few distinct scores: many ties, which must break towards the lower title index.
    scores = rng.integers(0, 4, (num_users + 1, num_movies)).astype(np.float32)
    train = _columns(rng, 900, num_users, num_movies)
    evaluation = _columns(rng, 300, num_users, num_movies)  # duplicates and train pairs too
    ks = (1, 5, 10, 39, 60)  # 60 > catalog: every title, seen ones included
    chunked = user_recall_at_k(lambda users: scores[users], num_movies, train, evaluation, ks,
                               chunk_cells=chunk_cells)
    assert chunked == _dense_recall(scores, train, evaluation, ks)
    assert chunked["recall_users"] > 40


def test_no_eval_user_gives_zero_recall():
    train = {names.USER_INDEX: np.array([0]), names.MOVIE_INDEX: np.array([1])}
    evaluation = {names.USER_INDEX: np.array([0]), names.MOVIE_INDEX: np.array([1])}
    metrics = user_recall_at_k(lambda users: np.zeros((len(users), 3)), 3, train, evaluation,
                               (1,))
    assert metrics == {"recall_users": 0.0, "recall_at_1": 0.0}
