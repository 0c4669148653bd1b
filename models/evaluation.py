"""Per-user ranking metrics with already-rated movies removed (Recall@K, NDCG@K, MAP, MRR,
catalog coverage, novelty: metrics TFMA's per-example top-K accuracy cannot express, since
they need each user's whole train and eval history), for the model and for a popularity
baseline computed by the same code.

Memory is bounded: users are scored and ranked a chunk at a time, and their train and eval
titles are kept as sorted (user, title) keys, never as [num_users, num_movies] matrices
(at 25M ratings that is 162k users × 62k titles = 10 G cells).
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

import names

# Scores of the given user indices [n] for every catalog title: [n, num_movies].
ScoreFn = Callable[[np.ndarray], np.ndarray]
# The recent-popularity baseline's period: this last share of the train period's time.
RECENT_SHARE = 0.1
# Cells of one chunk's score matrix: 16M, 64 MB of float32 (about 270 users of a 62k catalog).
CHUNK_CELLS = 1 << 24


def pair_keys(columns: Dict[str, np.ndarray], num_movies: int) -> np.ndarray:
    """Sorted unique user * num_movies + title of the catalog pairs in `columns` (an OOV
    title is in no candidate list, so it is dropped)."""
    users = np.asarray(columns[names.USER_INDEX], dtype=np.int64)
    movies = np.asarray(columns[names.MOVIE_INDEX], dtype=np.int64)
    known = movies < num_movies
    return np.unique(users[known] * num_movies + movies[known])


def title_raters(columns: Dict[str, np.ndarray], num_movies: int) -> np.ndarray:
    """[num_movies] int: how many users of `columns` rated each catalog title."""
    return np.bincount(pair_keys(columns, num_movies) % num_movies, minlength=num_movies)


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


def _discounts(k: int) -> np.ndarray:
    """1 / log2(rank + 1) for ranks 1..k: DCG's position weights."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def _chunk_metrics(top: np.ndarray, users: np.ndarray, relevant_keys: np.ndarray,
                   num_movies: int, ks: Sequence[int]) -> Dict[str, np.ndarray]:
    """{metric: [len(users)] per-user values} of one chunk's `top` titles [users, ≤ max(ks)].

    Binary relevance (a title the user rated in eval): recall@k = hits in the top k / eval
    titles; NDCG@k = DCG of the hits / DCG of the ideal list (all eval titles first); AP@K =
    mean over the hits in the top K of the precision at their rank, divided by
    min(eval titles, K); reciprocal rank = 1 / rank of the first hit in the top K (0 if none).
    """
    relevant = _keys_of(relevant_keys, users, num_movies)
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
    return values


class _Gains:
    """Each eval user's gain per title for graded NDCG: the user's eval rating of the title
    (the highest if rated twice), for rated titles of the catalog not rated in train.
    Kept as sorted (user, title) keys and their gains, like the other per-user sets."""

    def __init__(self, evaluation: Dict[str, np.ndarray], seen_keys: np.ndarray,
                 num_movies: int) -> None:
        users = np.asarray(evaluation[names.USER_INDEX], dtype=np.int64)
        movies = np.asarray(evaluation[names.MOVIE_INDEX], dtype=np.int64)
        ratings = np.asarray(evaluation.get(names.RATING_LABEL, np.zeros(len(users))),
                             dtype=np.float64)  # without ratings nothing has a gain
        known = (movies < num_movies) & (ratings > 0)
        if names.RATING_MASK in evaluation:  # an unrated example has no gain to rank by
            known &= np.asarray(evaluation[names.RATING_MASK]) > 0
        keys, gains = users[known] * num_movies + movies[known], ratings[known]
        fresh = ~np.isin(keys, seen_keys)
        keys, gains = keys[fresh], gains[fresh]
        order = np.lexsort((-gains, keys))  # by key, the highest rating first: keep one per key
        keys, gains = keys[order], gains[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        self.keys, self.gains, self.num_movies = keys[first], gains[first], num_movies

    def graded(self, users: np.ndarray) -> np.ndarray:
        """[len(users)] bool: whether each user has a graded eval title (so `ndcg` gives
        them a value, in this order)."""
        lo = np.searchsorted(self.keys, users * self.num_movies)
        hi = np.searchsorted(self.keys, (users + 1) * self.num_movies)
        return hi > lo

    def ndcg(self, users: np.ndarray, top: np.ndarray, k: int) -> np.ndarray:
        """NDCG@k of `top` [users, ≥ k] for those of `users` that have a gain (the others
        are left out: an ideal DCG of 0 has nothing to normalise)."""
        keys, num_movies = self.keys, self.num_movies
        lo, hi = np.searchsorted(keys, [users * num_movies, (users + 1) * num_movies])
        graded = hi > lo
        users, top, lo, hi = users[graded], top[graded, :k], lo[graded], hi[graded]
        if not len(users):
            return np.zeros(0)
        discounts = _discounts(k)
        wanted = users[:, None] * num_movies + top
        position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        gain = np.where(keys[position] == wanted, self.gains[position], 0.0)
        dcg = (gain * discounts[:top.shape[1]]).sum(axis=1)
        ideal = np.array([(np.sort(self.gains[a:b])[::-1][:k] * discounts[:min(k, b - a)]).sum()
                          for a, b in zip(lo, hi)])
        return dcg / ideal


# [n] users, their scores [n, catalog] with the titles each rated in train at -inf → their
# [n, k] best titles by another order than the scores' (e.g. retrieve, then rank).
ReorderFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def user_ranking_metrics(score_users: ScoreFn, num_movies: int, train: Dict[str, np.ndarray],
                         evaluation: Dict[str, np.ndarray], ks: Sequence[int],
                         reorder: Optional[ReorderFn] = None,
                         chunk_cells: int = CHUNK_CELLS) -> Dict[str, float]:
    """Per-user ranking metrics of the catalog ranking, averaged over eval users: those of
    `grouped_ranking_metrics` for all of them."""
    return grouped_ranking_metrics(score_users, num_movies, train, evaluation, ks, {},
                                   reorder, chunk_cells)[ALL_USERS]


ALL_USERS = "all_users"  # grouped_ranking_metrics' key of the metrics over every eval user


def grouped_ranking_metrics(score_users: ScoreFn, num_movies: int,
                            train: Dict[str, np.ndarray], evaluation: Dict[str, np.ndarray],
                            ks: Sequence[int], groups: Dict[str, np.ndarray],
                            reorder: Optional[ReorderFn] = None,
                            chunk_cells: int = CHUNK_CELLS) -> Dict[str, Dict[str, float]]:
    """Per-user ranking metrics of the catalog ranking, averaged over the eval users
    (`ALL_USERS`) and over each group of them (`groups`: {name: user indices}), from one
    scoring of each user.

    `score_users(users)`: those users' retrieval scores for every catalog title (the OOV
    user is index num_users). Titles the user has in `train` are removed from the ranking
    first (they are not recommendations) and from the eval titles (none: the splits share no
    pair, but a duplicate pair is not a hit). Users with no eval title left are skipped.
    Users are scored and ranked `chunk_cells // num_movies` at a time, once: every metric
    comes from the same ranking.

    Each group's (and the whole's) metrics: recall@k and NDCG@k for each k in `ks`, MAP and
    MRR at max(ks) (`_chunk_metrics`), and over the top min(ks) of its eval users: catalog
    coverage (the share of titles recommended to anyone), novelty (the mean
    self-information, -log2 of the share of train users who rated the title, of the
    recommended titles; titles no train user rated count as rated by one), and graded NDCG
    (the eval rating as each title's gain, over the users with a rated eval title; `_Gains`),
    also of the `reorder` order when given; `names.RANKED_USERS`: how many users.
    """
    seen_keys = pair_keys(train, num_movies)
    relevant_keys = np.setdiff1d(pair_keys(evaluation, num_movies), seen_keys,
                                 assume_unique=True)
    gains = _Gains(evaluation, seen_keys, num_movies)
    users = np.unique(relevant_keys // num_movies)
    train_users = max(len(np.unique(seen_keys // num_movies)), 1)
    raters = np.bincount(seen_keys % num_movies, minlength=num_movies)
    self_information = -np.log2(np.maximum(raters, 1) / train_users)
    shallowest, deepest = min(ks), max(ks)
    graded = names.graded_ndcg_metric(shallowest)
    per_chunk = max(1, chunk_cells // num_movies)
    values: Dict[str, List[np.ndarray]] = {}
    users_of: Dict[str, List[np.ndarray]] = {}  # the users each metric's values belong to
    tops: List[np.ndarray] = []
    for start in range(0, len(users), per_chunk):
        chunk = users[start:start + per_chunk]
        ranked = without_seen(score_users(chunk), chunk, _keys_of(seen_keys, chunk, num_movies),
                              num_movies)
        # Equal scores keep catalog order (top_k puts the lower index first), as a stable
        # argsort would.
        top = tf.math.top_k(ranked, k=min(deepest, num_movies)).indices.numpy()
        per_user = _chunk_metrics(top, chunk, relevant_keys, num_movies, ks)
        graded_users = chunk[gains.graded(chunk)]
        per_user[graded] = gains.ndcg(chunk, top, shallowest)
        if reorder is not None:
            per_user[names.reranked_metric(graded)] = gains.ndcg(
                chunk, reorder(chunk, ranked), shallowest)
        per_user[_NOVELTY] = self_information[top[:, :shallowest]].mean(axis=1)
        for name, value in per_user.items():
            values.setdefault(name, []).append(value)
            graded_metric = name in (graded, names.reranked_metric(graded))
            users_of.setdefault(name, []).append(graded_users if graded_metric else chunk)
        tops.append(top[:, :shallowest])
    joined = {name: np.concatenate(parts) for name, parts in values.items()}
    owners = {name: np.concatenate(parts) for name, parts in users_of.items()}
    top_titles = np.concatenate(tops) if tops else np.zeros((0, shallowest), np.int64)
    expected = _metric_names(ks) + [graded] + (
        [names.reranked_metric(graded)] if reorder is not None else [])
    result = {}
    for group, members in {ALL_USERS: users, **groups}.items():
        in_group = np.isin(users, members)
        metrics = {names.RANKED_USERS: float(in_group.sum())}
        for name, value in joined.items():
            part = value[np.isin(owners[name], members)]
            metrics[name] = float(np.mean(part)) if len(part) else 0.0
        recommended = np.zeros(num_movies, dtype=bool)
        recommended[top_titles[in_group].ravel()] = True
        metrics[names.coverage_metric(shallowest)] = float(recommended.mean())
        metrics[names.novelty_metric(shallowest)] = metrics.pop(_NOVELTY, 0.0)
        for name in expected:
            metrics.setdefault(name, 0.0)  # no eval user (or none with a rating) to average over
        result[group] = metrics
    return result


_NOVELTY = "_novelty"  # per-user values, averaged and renamed at the end


def _metric_names(ks: Sequence[int]) -> List[str]:
    return ([names.recall_metric(k) for k in ks] + [names.ndcg_metric(k) for k in ks]
            + [names.map_metric(max(ks)), names.mrr_metric(max(ks))])


def rank_within(sorted_keys: np.ndarray) -> np.ndarray:
    """[n] int: each row's 0-based position among the rows of its key (`sorted_keys`: sorted,
    e.g. user indices, so each user's rows are consecutive)."""
    return np.arange(len(sorted_keys)) - np.searchsorted(sorted_keys, sorted_keys)


@dataclasses.dataclass(frozen=True)
class FoldIn:
    """The eval split under the strong-generalization protocol (`fold_in_protocol`)."""

    targets: Dict[str, np.ndarray]  # the eval rows evaluated on: the fold-in rows removed
    seen: Dict[str, np.ndarray]  # train rows and fold-in rows: removed from every ranking
    histories: Dict[int, np.ndarray]  # new user index -> their fold-in titles, in time order
    groups: Dict[str, np.ndarray]  # names.USER_GROUPS' name -> the sorted user indices in it


def fold_in_protocol(train: Dict[str, np.ndarray], evaluation: Dict[str, np.ndarray],
                     fold_in: int = names.FOLD_IN_RATINGS) -> FoldIn:
    """The standard strong-generalization split of the eval users.

    Known users (`names.KNOWN_USERS`: they have train ratings) are evaluated on all their eval
    ratings. A new user (none in train: under a time split, most of the next period's) with
    more than `fold_in` eval ratings gives their first `fold_in` (by names.RATING_TIMESTAMP,
    ties and a split without times in the rows' order) as history, which a model may read
    and no ranking recommends, and is evaluated on the rest (`names.NEW_USERS`); one with
    fewer has no history to give and is evaluated on all of theirs (`names.NEW_COLD_USERS`:
    features and priors only).
    """
    users = np.asarray(evaluation[names.USER_INDEX], np.int64)
    known_users = np.unique(np.asarray(train[names.USER_INDEX], np.int64))
    times = np.asarray(evaluation.get(names.RATING_TIMESTAMP, np.zeros(len(users))), np.int64)
    order = np.lexsort((np.arange(len(users)), times, users))  # by user, then time
    sorted_users = users[order]
    rank = rank_within(sorted_users)
    _, inverse, per_user = np.unique(sorted_users, return_inverse=True, return_counts=True)
    new = ~np.isin(sorted_users, known_users)
    folded = new & (per_user[inverse] > fold_in)
    given = folded & (rank < fold_in)  # in sorted order: fold_in rows per folded user
    history_rows = np.zeros(len(users), bool)
    history_rows[order[given]] = True
    movies = np.asarray(evaluation[names.MOVIE_INDEX], np.int64)[order[given]]
    histories = {int(user): titles for user, titles in
                 zip(sorted_users[given][::fold_in], movies.reshape(-1, fold_in))}
    targets = {name: np.asarray(values)[~history_rows] for name, values in evaluation.items()}
    seen = {name: np.concatenate([np.asarray(train[name]),
                                  np.asarray(evaluation[name])[history_rows]])
            for name in (names.USER_INDEX, names.MOVIE_INDEX)}
    groups = {names.KNOWN_USERS: np.unique(sorted_users[~new]),
              names.NEW_USERS: np.unique(sorted_users[folded]),
              names.NEW_COLD_USERS: np.unique(sorted_users[new & ~folded])}
    return FoldIn(targets, seen, histories, groups)


def popularity_scorer(train: Dict[str, np.ndarray], num_movies: int) -> ScoreFn:
    """The popularity baseline: every user gets the titles most rated in `train` (ties in
    catalog order), through the same ranking code as the model (rated titles removed)."""
    popularity = title_raters(train, num_movies).astype(np.float32)
    return lambda users: np.broadcast_to(popularity, (len(users), num_movies))


def recent_popularity_scorer(train: Dict[str, np.ndarray], num_movies: int,
                             share: float = RECENT_SHARE) -> ScoreFn:
    """The recent-popularity baseline: the titles most rated in the last `share` of the train
    period (by names.RATING_TIMESTAMP; all-time counts break ties), what is popular now. A
    split without times has no recent period: all-time popularity then."""
    if names.RATING_TIMESTAMP not in train or not len(train[names.RATING_TIMESTAMP]):
        return popularity_scorer(train, num_movies)
    times = np.asarray(train[names.RATING_TIMESTAMP], np.int64)
    latest, earliest = times.max(), times.min()
    recent = times >= latest - share * (latest - earliest)
    part = {name: np.asarray(train[name])[recent]
            for name in (names.USER_INDEX, names.MOVIE_INDEX)}
    counts, overall = title_raters(part, num_movies), title_raters(train, num_movies)
    # All-time counts below 1 each: they order only the titles the recent period ties.
    popularity = (counts + overall / (overall.max() + 1.0)).astype(np.float32)
    return lambda users: np.broadcast_to(popularity, (len(users), num_movies))
