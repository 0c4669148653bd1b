"""Per-user Recall@K with already-rated movies removed (a metric TFMA's per-example top-K
accuracy cannot express: it needs each user's whole train and eval history).

Memory is bounded: users are scored and ranked a chunk at a time, and their train and eval
titles are kept as sorted (user, title) keys, never as [num_users, num_movies] matrices
(at 25M ratings that is 162k users × 62k titles = 10 G cells).
"""

from typing import Callable, Dict, List, Sequence

import numpy as np
import tensorflow as tf

import names

# Scores of the given user indices [n] for every catalog title: [n, num_movies].
ScoreFn = Callable[[np.ndarray], np.ndarray]
# Cells of one chunk's score matrix: 16M, 64 MB of float32 (about 270 users of a 62k catalog).
CHUNK_CELLS = 1 << 24


def pair_keys(columns: Dict[str, np.ndarray], num_movies: int) -> np.ndarray:
    """Sorted unique user * num_movies + title of the catalog pairs in `columns` (an OOV
    title is in no candidate list, so it is dropped)."""
    users = np.asarray(columns[names.USER_INDEX], dtype=np.int64)
    movies = np.asarray(columns[names.MOVIE_INDEX], dtype=np.int64)
    known = movies < num_movies
    return np.unique(users[known] * num_movies + movies[known])


def _keys_of(keys: np.ndarray, users: np.ndarray, num_movies: int) -> np.ndarray:
    """The keys of `keys` (sorted) that belong to `users` (sorted, unique)."""
    lo, hi = np.searchsorted(keys, [users[0] * num_movies, (users[-1] + 1) * num_movies])
    window = keys[lo:hi]
    return window[np.isin(window // num_movies, users)]


def _ranked_titles(scores: np.ndarray, users: np.ndarray, seen: np.ndarray, num_movies: int,
                   k: int) -> np.ndarray:
    """[len(users), k]: each user's best titles, titles seen in train last. Equal scores keep
    catalog order (tf.math.top_k puts the lower index first), as a stable argsort would."""
    rows = np.searchsorted(users, seen // num_movies)
    ranked = np.array(scores, dtype=np.promote_types(scores.dtype, np.float32))  # a copy
    ranked[rows, seen % num_movies] = -np.inf
    return tf.math.top_k(ranked, k=min(k, num_movies)).indices.numpy()


def _chunk_recalls(score_users: ScoreFn, users: np.ndarray, seen_keys: np.ndarray,
                   relevant_keys: np.ndarray, num_movies: int, ks: Sequence[int]
                   ) -> Dict[int, np.ndarray]:
    """{k: [len(users)] recall@k} of one chunk of users."""
    seen = _keys_of(seen_keys, users, num_movies)
    relevant = _keys_of(relevant_keys, users, num_movies)
    top = _ranked_titles(score_users(users), users, seen, num_movies, max(ks))
    hits = np.isin(users[:, None] * num_movies + top, relevant)  # [users, max k]
    counts = np.bincount(np.searchsorted(users, relevant // num_movies), minlength=len(users))
    return {k: hits[:, :k].sum(axis=1) / counts for k in ks}


def user_recall_at_k(score_users: ScoreFn, num_movies: int, train: Dict[str, np.ndarray],
                     evaluation: Dict[str, np.ndarray], ks: Sequence[int],
                     chunk_cells: int = CHUNK_CELLS) -> Dict[str, float]:
    """Mean over eval users of |top-K ∩ eval titles| / |eval titles|.

    `score_users(users)`: those users' retrieval scores for every catalog title (the OOV
    user is index num_users). Titles the user rated in `train` are removed from the ranking
    first (they are not recommendations) and from the eval titles (none: the splits share no
    pair, but a duplicate pair is not a hit). Users with no eval title left are skipped.
    Users are ranked `chunk_cells // num_movies` at a time.
    """
    seen_keys = pair_keys(train, num_movies)
    relevant_keys = np.setdiff1d(pair_keys(evaluation, num_movies), seen_keys,
                                 assume_unique=True)
    users = np.unique(relevant_keys // num_movies)
    per_chunk = max(1, chunk_cells // num_movies)
    recalls: Dict[int, List[np.ndarray]] = {k: [] for k in ks}
    for start in range(0, len(users), per_chunk):
        chunk = _chunk_recalls(score_users, users[start:start + per_chunk], seen_keys,
                               relevant_keys, num_movies, ks)
        for k in ks:
            recalls[k].append(chunk[k])
    metrics = {names.RECALL_USERS: float(len(users))}
    for k in ks:
        metrics[names.recall_metric(k)] = (float(np.mean(np.concatenate(recalls[k])))
                                     if len(users) else 0.0)
    return metrics
