"""Per-user Recall@K with already-rated movies removed (a metric TFMA's per-example top-K
accuracy cannot express: it needs each user's whole train and eval history)."""

from typing import Dict, Sequence

import numpy as np

import names


def _pairs(columns: Dict[str, np.ndarray], num_users: int, num_movies: int) -> np.ndarray:
    """[num_users + 1, num_movies] bool: the user interacted with the catalog title."""
    matrix = np.zeros((num_users + names.NUM_OOV_BUCKETS, num_movies), dtype=bool)
    users = np.asarray(columns[names.USER_INDEX])
    movies = np.asarray(columns[names.MOVIE_INDEX])
    known = movies < num_movies  # an OOV title is in no candidate list
    matrix[users[known], movies[known]] = True
    return matrix


def user_recall_at_k(scores: np.ndarray, train: Dict[str, np.ndarray],
                     evaluation: Dict[str, np.ndarray], ks: Sequence[int]) -> Dict[str, float]:
    """Mean over eval users of |top-K ∩ eval titles| / |eval titles|.

    `scores`: [num_users + 1, num_movies] retrieval scores of every user (OOV row last) for
    every catalog title. Titles the user rated in `train` are removed from the ranking first
    (they are not recommendations) and from the eval titles (none: the splits share no
    pair, but a duplicate pair is not a hit). Users with no eval title left are skipped.
    """
    num_users = scores.shape[0] - names.NUM_OOV_BUCKETS
    num_movies = scores.shape[1]
    seen = _pairs(train, num_users, num_movies)
    relevant = _pairs(evaluation, num_users, num_movies) & ~seen
    users = np.flatnonzero(relevant.sum(axis=1) > 0)
    ranked = np.where(seen[users], -np.inf, scores[users])
    order = np.argsort(-ranked, axis=1, kind="stable")
    counts = relevant[users].sum(axis=1)
    metrics = {"recall_users": float(len(users))}
    for k in ks:
        top = order[:, :k]
        hits = np.take_along_axis(relevant[users], top, axis=1).sum(axis=1)
        metrics[f"recall_at_{k}"] = float(np.mean(hits / counts)) if len(users) else 0.0
    return metrics
