"""Per-user ranking metrics with already-rated movies removed (Recall@K, NDCG@K, MAP, MRR,
catalog coverage, novelty: metrics TFMA's per-example top-K accuracy cannot express, since
they need each user's whole train and eval history), for the model and for a popularity
baseline computed by the same code.

Memory is bounded: users are scored and ranked a chunk at a time, and their train and eval
titles are kept as sorted (user, title) keys, never as [num_users, num_movies] matrices
(at 25M ratings that is 162k users × 62k titles = 10 G cells).
"""

from typing import Callable, Dict, List, Sequence, Tuple

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


def without_seen(scores: np.ndarray, users: np.ndarray, seen: np.ndarray,
                 num_movies: int) -> np.ndarray:
    """A float copy of `scores` [len(users), catalog] with the titles each user rated in train
    (`seen`: their sorted (user, title) keys) at -inf: never recommended."""
    ranked = np.array(scores, dtype=np.promote_types(scores.dtype, np.float32))  # a copy
    ranked[np.searchsorted(users, seen // num_movies), seen % num_movies] = -np.inf
    return ranked


def _ranked_titles(scores: np.ndarray, users: np.ndarray, seen: np.ndarray, num_movies: int,
                   k: int) -> np.ndarray:
    """[len(users), k]: each user's best titles, titles seen in train last. Equal scores keep
    catalog order (tf.math.top_k puts the lower index first), as a stable argsort would."""
    ranked = without_seen(scores, users, seen, num_movies)
    return tf.math.top_k(ranked, k=min(k, num_movies)).indices.numpy()


def _discounts(k: int) -> np.ndarray:
    """1 / log2(rank + 1) for ranks 1..k: DCG's position weights."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def _chunk_metrics(score_users: ScoreFn, users: np.ndarray, seen_keys: np.ndarray,
                   relevant_keys: np.ndarray, num_movies: int, ks: Sequence[int]
                   ) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """({metric: [len(users)] per-user values}, [len(users), min(ks)] top titles) of one chunk.

    Binary relevance (a title the user rated in eval): recall@k = hits in the top k / eval
    titles; NDCG@k = DCG of the hits / DCG of the ideal list (all eval titles first); AP@K =
    mean over the hits in the top K of the precision at their rank, divided by
    min(eval titles, K); reciprocal rank = 1 / rank of the first hit in the top K (0 if none).
    """
    seen = _keys_of(seen_keys, users, num_movies)
    relevant = _keys_of(relevant_keys, users, num_movies)
    top = _ranked_titles(score_users(users), users, seen, num_movies, max(ks))
    hits = np.isin(users[:, None] * num_movies + top, relevant)  # [users, ≤ max k]
    counts = np.bincount(np.searchsorted(users, relevant // num_movies), minlength=len(users))
    depth = hits.shape[1]
    discounts = _discounts(depth)
    values: Dict[str, np.ndarray] = {}
    for k in ks:
        values[names.recall_metric(k)] = hits[:, :k].sum(axis=1) / counts
        ideal = np.cumsum(discounts)[np.minimum(counts, min(k, depth)) - 1]
        values[names.ndcg_metric(k)] = (hits[:, :k] * discounts[:k]).sum(axis=1) / ideal
    deepest = max(ks)
    precision = np.cumsum(hits, axis=1) / np.arange(1, depth + 1)
    values[names.map_metric(deepest)] = ((precision * hits).sum(axis=1)
                                         / np.minimum(counts, deepest))
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    values[names.mrr_metric(deepest)] = 1.0 / first
    return values, top[:, :min(ks)]


def user_ranking_metrics(score_users: ScoreFn, num_movies: int, train: Dict[str, np.ndarray],
                         evaluation: Dict[str, np.ndarray], ks: Sequence[int],
                         chunk_cells: int = CHUNK_CELLS) -> Dict[str, float]:
    """Per-user ranking metrics of the catalog ranking, averaged over eval users.

    `score_users(users)`: those users' retrieval scores for every catalog title (the OOV
    user is index num_users). Titles the user rated in `train` are removed from the ranking
    first (they are not recommendations) and from the eval titles (none: the splits share no
    pair, but a duplicate pair is not a hit). Users with no eval title left are skipped.
    Users are ranked `chunk_cells // num_movies` at a time.

    Returns recall@k and NDCG@k for each k in `ks`, MAP and MRR at max(ks) (`_chunk_metrics`),
    and over the top min(ks) of every eval user: catalog coverage (the share of titles
    recommended to anyone) and novelty (the mean self-information, -log2 of the share of
    train users who rated the title, of the recommended titles; titles no train user rated
    count as rated by one).
    """
    seen_keys = pair_keys(train, num_movies)
    relevant_keys = np.setdiff1d(pair_keys(evaluation, num_movies), seen_keys,
                                 assume_unique=True)
    users = np.unique(relevant_keys // num_movies)
    train_users = max(len(np.unique(seen_keys // num_movies)), 1)
    raters = np.bincount(seen_keys % num_movies, minlength=num_movies)
    self_information = -np.log2(np.maximum(raters, 1) / train_users)
    per_chunk = max(1, chunk_cells // num_movies)
    values: Dict[str, List[np.ndarray]] = {}
    recommended = np.zeros(num_movies, dtype=bool)
    information: List[np.ndarray] = []
    for start in range(0, len(users), per_chunk):
        chunk, top = _chunk_metrics(score_users, users[start:start + per_chunk], seen_keys,
                                    relevant_keys, num_movies, ks)
        for name, value in chunk.items():
            values.setdefault(name, []).append(value)
        recommended[top.ravel()] = True
        information.append(self_information[top].mean(axis=1))
    shallowest = min(ks)
    metrics = {names.RANKED_USERS: float(len(users))}
    for name, parts in values.items():
        metrics[name] = float(np.mean(np.concatenate(parts)))
    metrics[names.coverage_metric(shallowest)] = float(recommended.mean())
    metrics[names.novelty_metric(shallowest)] = (float(np.mean(np.concatenate(information)))
                                                 if information else 0.0)
    if not len(users):
        metrics.update({name: 0.0 for name in _metric_names(ks)})
    return metrics


def _metric_names(ks: Sequence[int]) -> List[str]:
    return ([names.recall_metric(k) for k in ks] + [names.ndcg_metric(k) for k in ks]
            + [names.map_metric(max(ks)), names.mrr_metric(max(ks))])


def popularity_scorer(train: Dict[str, np.ndarray], num_movies: int) -> ScoreFn:
    """The popularity baseline: every user gets the titles most rated in `train` (ties in
    catalog order), through the same ranking code as the model (rated titles removed)."""
    popularity = np.bincount(pair_keys(train, num_movies) % num_movies,
                             minlength=num_movies).astype(np.float32)
    return lambda users: np.broadcast_to(popularity, (len(users), num_movies))


# [n] users, the (user, title) keys they rated in train → [n, k] catalog indices, best first.
TopTitlesFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def retrieval_top_titles(score_users: ScoreFn, num_movies: int, k: int) -> TopTitlesFn:
    """The k best titles by retrieval score, titles rated in train removed."""
    return lambda users, seen: _ranked_titles(score_users(users), users, seen, num_movies, k)


def graded_ndcg_at_k(top_titles: TopTitlesFn, num_movies: int, train: Dict[str, np.ndarray],
                     evaluation: Dict[str, np.ndarray], k: int,
                     chunk_cells: int = CHUNK_CELLS) -> float:
    """Mean over eval users of NDCG@k with the user's eval rating of a title as its gain
    (linear; 0 for a title they did not rate in eval): a list that puts the titles they liked
    most first scores highest. The same users and the same removal of train titles as
    `user_ranking_metrics`."""
    seen_keys = pair_keys(train, num_movies)
    users_all = np.asarray(evaluation[names.USER_INDEX], dtype=np.int64)
    movies_all = np.asarray(evaluation[names.MOVIE_INDEX], dtype=np.int64)
    ratings_all = np.asarray(evaluation[names.RATING_LABEL], dtype=np.float64)
    known = movies_all < num_movies
    if names.RATING_MASK in evaluation:  # an unrated example has no gain to rank by
        known &= np.asarray(evaluation[names.RATING_MASK]) > 0
    keys = users_all[known] * num_movies + movies_all[known]
    fresh = ~np.isin(keys, seen_keys)
    keys, gains = keys[fresh], ratings_all[known][fresh]
    order = np.lexsort((-gains, keys))  # by key, the highest rating first: keep one per key
    keys, gains = keys[order], gains[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys, gains = keys[first], gains[first]
    users = np.unique(keys // num_movies)
    if not len(users):
        return 0.0
    discounts = _discounts(k)
    per_chunk = max(1, chunk_cells // num_movies)
    values = []
    for start in range(0, len(users), per_chunk):
        chunk = users[start:start + per_chunk]
        top = top_titles(chunk, _keys_of(seen_keys, chunk, num_movies))[:, :k]
        position = np.searchsorted(keys, chunk[:, None] * num_movies + top)
        position = np.minimum(position, len(keys) - 1)
        hit = keys[position] == chunk[:, None] * num_movies + top
        dcg = (np.where(hit, gains[position], 0.0) * discounts[:top.shape[1]]).sum(axis=1)
        lo, hi = np.searchsorted(keys, [chunk * num_movies, (chunk + 1) * num_movies])
        ideal = np.array([(np.sort(gains[a:b])[::-1][:k] * discounts[:min(k, b - a)]).sum()
                          for a, b in zip(lo, hi)])
        values.append(dcg / ideal)
    return float(np.mean(np.concatenate(values)))
