"""Per-user ranking metrics: the chunked Recall@K gives the numbers of the dense
implementation it replaced; NDCG, MAP, MRR, coverage and novelty match a plain per-user
oracle; the popularity baseline ranks by train counts."""

from typing import Dict, Sequence

import numpy as np
import pytest

import names
from models.evaluation import (
    ALL_USERS,
    fold_in_protocol,
    grouped_ranking_metrics,
    popularity_scorer,
    recent_popularity_scorer,
    user_ranking_metrics,
)


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
    metrics = {"ranked_users": float(len(users))}
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
    chunked = user_ranking_metrics(lambda users: scores[users], num_movies, train, evaluation,
                                   ks, chunk_cells=chunk_cells)
    dense = _dense_recall(scores, train, evaluation, ks)
    assert {name: chunked[name] for name in dense} == dense
    assert chunked["ranked_users"] > 40
    oracle = _oracle(scores, train, evaluation, ks)
    # Without ratings in eval no title has a gain: graded NDCG has no user to average over.
    graded = names.graded_ndcg_metric(min(ks))
    assert set(chunked) == set(dense) | set(oracle) | {graded} and chunked[graded] == 0.0
    for name, value in oracle.items():
        assert chunked[name] == pytest.approx(value, abs=1e-12), name


def test_no_eval_user_gives_zero_recall():
    train = {names.USER_INDEX: np.array([0]), names.MOVIE_INDEX: np.array([1])}
    evaluation = {names.USER_INDEX: np.array([0]), names.MOVIE_INDEX: np.array([1])}
    metrics = user_ranking_metrics(lambda users: np.zeros((len(users), 3)), 3, train,
                                   evaluation, (1,))
    assert metrics == {"ranked_users": 0.0, "recall_at_1": 0.0, "ndcg_at_1": 0.0,
                       "map_at_1": 0.0, "mrr_at_1": 0.0, "coverage_at_1": 0.0,
                       "novelty_at_1": 0.0, "graded_ndcg_at_1": 0.0}


def _oracle(scores, train, evaluation, ks):
    """NDCG@k, MAP and MRR at max(ks), coverage and novelty at min(ks), one user at a time,
    from their textbook definitions (binary relevance)."""
    num_movies = scores.shape[1]

    def rated(columns):
        pairs = {}
        for user, movie in zip(columns[names.USER_INDEX], columns[names.MOVIE_INDEX]):
            if movie < num_movies:
                pairs.setdefault(int(user), set()).add(int(movie))
        return pairs

    seen, later = rated(train), rated(evaluation)
    train_users = len(seen)
    raters = np.zeros(num_movies)
    for titles in seen.values():
        raters[list(titles)] += 1
    deep, shallow = max(ks), min(ks)
    per_user = {f"ndcg_at_{k}": [] for k in ks}
    per_user.update({f"map_at_{deep}": [], f"mrr_at_{deep}": [], "novelty": []})
    recommended = set()
    for user in sorted(later):
        relevant = later[user] - seen.get(user, set())
        if not relevant:
            continue
        order = sorted(range(num_movies), key=lambda m: (m in seen.get(user, set()),
                                                          -scores[user, m], m))
        for k in ks:
            dcg = sum(1 / np.log2(i + 2) for i, m in enumerate(order[:k]) if m in relevant)
            ideal = sum(1 / np.log2(i + 2) for i in range(min(len(relevant), k)))
            per_user[f"ndcg_at_{k}"].append(dcg / ideal)
        hits, precisions, first = 0, [], None
        for i, m in enumerate(order[:deep]):
            if m in relevant:
                hits += 1
                precisions.append(hits / (i + 1))
                first = first or i + 1
        per_user[f"map_at_{deep}"].append(sum(precisions) / min(len(relevant), deep))
        per_user[f"mrr_at_{deep}"].append(1 / first if first else 0.0)
        top = order[:shallow]
        recommended.update(top)
        per_user["novelty"].append(np.mean(
            [-np.log2(max(raters[m], 1) / train_users) for m in top]))
    metrics = {name: float(np.mean(values)) for name, values in per_user.items()
               if name != "novelty"}
    metrics[f"coverage_at_{shallow}"] = len(recommended) / num_movies
    metrics[f"novelty_at_{shallow}"] = float(np.mean(per_user["novelty"]))
    return metrics


def test_the_popularity_baseline_recommends_the_most_rated_unseen_titles():
    # Train counts per title: 0 → 3 ratings, 1 → 1, 2 → 2, 3 → 0 (and one OOV title, index 4).
    train = {names.USER_INDEX: np.array([0, 1, 2, 0, 1, 2, 1]),
             names.MOVIE_INDEX: np.array([0, 0, 0, 1, 2, 2, 4])}
    scorer = popularity_scorer(train, num_movies=4)
    assert scorer(np.array([5, 6])).tolist() == [[3, 1, 2, 0], [3, 1, 2, 0]]
    # User 3 rated nothing in train: most popular first, so title 2 (eval) is a hit at rank 2.
    evaluation = {names.USER_INDEX: np.array([3]), names.MOVIE_INDEX: np.array([2])}
    metrics = user_ranking_metrics(scorer, 4, train, evaluation, (1, 2))
    assert metrics["recall_at_1"] == 0.0 and metrics["recall_at_2"] == 1.0
    assert metrics["mrr_at_2"] == 0.5 and metrics["coverage_at_1"] == 0.25


def test_graded_ndcg_weights_each_title_by_the_user_s_eval_rating():
    rng = np.random.default_rng(7)
    num_users, num_movies, k = 30, 25, 5
    scores = rng.normal(size=(num_users + 1, num_movies)).astype(np.float32)
    train = _columns(rng, 300, num_users, num_movies)
    evaluation = {**_columns(rng, 200, num_users, num_movies),
                  names.RATING_LABEL: rng.integers(1, 6, 200).astype(np.float32)}

    def by_title_index(users, ranked):  # another order: unseen titles by catalog index
        return np.argsort(np.isinf(ranked), axis=1, kind="stable")[:, :k]

    metrics = user_ranking_metrics(lambda u: scores[u], num_movies, train, evaluation, (k,),
                                   reorder=by_title_index, chunk_cells=40)
    # Oracle: one user at a time; a title rated twice in eval counts its higher rating.
    seen, gains = {}, {}
    for user, movie in zip(train[names.USER_INDEX], train[names.MOVIE_INDEX]):
        if movie < num_movies:
            seen.setdefault(int(user), set()).add(int(movie))
    for user, movie, rating in zip(evaluation[names.USER_INDEX], evaluation[names.MOVIE_INDEX],
                                   evaluation[names.RATING_LABEL]):
        if movie < num_movies and movie not in seen.get(int(user), set()):
            user_gains = gains.setdefault(int(user), {})
            user_gains[int(movie)] = max(user_gains.get(int(movie), 0.0), float(rating))

    def mean_ndcg(order_key):
        ndcgs = []
        for user, user_gains in gains.items():
            order = sorted(range(num_movies), key=lambda m: (m in seen.get(user, set()),
                                                              order_key(user, m)))[:k]
            dcg = sum(user_gains.get(m, 0.0) / np.log2(i + 2) for i, m in enumerate(order))
            best = sorted(user_gains.values(), reverse=True)[:k]
            ndcgs.append(dcg / sum(g / np.log2(i + 2) for i, g in enumerate(best)))
        return float(np.mean(ndcgs))

    graded = names.graded_ndcg_metric(k)
    assert metrics[graded] == pytest.approx(
        mean_ndcg(lambda user, m: (-scores[user, m], m)), abs=1e-9)
    assert metrics[names.reranked_metric(graded)] == pytest.approx(
        mean_ndcg(lambda user, m: m), abs=1e-9)
    assert metrics[graded] != metrics[names.reranked_metric(graded)]


def test_retrieve_then_rank_orders_the_retrieved_titles_by_predicted_rating():
    import tensorflow as tf

    from models.rerank import predicted_ratings, rerank

    user_vectors = tf.constant([[1.0], [2.0]])
    movie_vectors = tf.constant([[0.5], [3.0], [1.0], [2.0], [4.0]])
    user_tower = lambda users: tf.gather(user_vectors, users)  # noqa: E731
    movie_tower = lambda movies: tf.gather(movie_vectors, movies)  # noqa: E731
    # The "rating head": user value × movie value, minus a penalty for title 4.
    rating_head = lambda inputs: inputs[0] * inputs[1] - tf.cast(  # noqa: E731
        tf.equal(inputs[3], 4), tf.float32)[:, None] * 10
    users = tf.constant([0, 1], tf.int64)
    candidates = tf.constant([[1, 2], [4, 0]], tf.int64)
    np.testing.assert_allclose(predicted_ratings(user_tower, movie_tower, rating_head, users,
                                                 candidates).numpy(), [[3.0, 1.0], [-2.0, 1.0]])
    # Retrieval picks the 3 best by score; the rating head reorders them; -inf never rises.
    scores = tf.constant([[0.1, 0.9, 0.8, 0.7, -np.inf], [0.9, -np.inf, -np.inf, -np.inf, 1.0]])
    titles, ratings = rerank(user_tower, movie_tower, rating_head, users, scores, 3, 2)
    # User 0: candidates 1, 2, 3 → ratings 3, 1, 2 → titles 1, 3.
    # User 1: candidates 4, 0, and one -inf title → ratings -2, 1 → titles 0, 4.
    assert titles.numpy().tolist() == [[1, 3], [0, 4]]
    np.testing.assert_allclose(ratings.numpy(), [[3.0, 2.0], [1.0, -2.0]])


def test_the_fold_in_protocol_gives_new_users_first_ratings_as_history():
    """Users 0-1 rated in train (known); 2 has 7 eval ratings (new: the first 5 by time are
    history, the other 2 targets); 3 has 2 (new, without history: both are targets)."""
    train = {names.USER_INDEX: np.array([0, 1]), names.MOVIE_INDEX: np.array([0, 0])}
    times = [70, 10, 60, 20, 50, 30, 40]  # user 2's titles 1..7 rated in this order: 2,4,6,7,5,3,1
    evaluation = {names.USER_INDEX: np.array([0, 1] + [2] * 7 + [3, 3]),
                  names.MOVIE_INDEX: np.array([1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
                  names.RATING_TIMESTAMP: np.array([1, 1] + times + [1, 2])}
    protocol = fold_in_protocol(train, evaluation)
    assert protocol.histories.keys() == {2}
    assert protocol.histories[2].tolist() == [2, 4, 6, 7, 5]  # the first five, in time order
    assert sorted(protocol.targets[names.MOVIE_INDEX][
        protocol.targets[names.USER_INDEX] == 2].tolist()) == [1, 3]
    assert len(protocol.targets[names.USER_INDEX]) == 11 - 5
    assert {group: users.tolist() for group, users in protocol.groups.items()} == {
        names.KNOWN_USERS: [0, 1], names.NEW_USERS: [2], names.NEW_COLD_USERS: [3]}
    # The history is seen: no ranking recommends it.
    seen = set(zip(protocol.seen[names.USER_INDEX].tolist(),
                   protocol.seen[names.MOVIE_INDEX].tolist()))
    assert {(2, title) for title in (2, 4, 5, 6, 7)} <= seen and (2, 1) not in seen


def test_each_group_is_ranked_alone_from_one_scoring():
    """A group's metrics are those of its users alone (recall@1: 1 for users 0-2, whose one
    eval title the scores put first, 0 for users 3-4), and each user is scored once."""
    train = {names.USER_INDEX: np.array([0, 1, 2]), names.MOVIE_INDEX: np.array([0, 0, 0])}
    evaluation = {names.USER_INDEX: np.array([0, 1, 2, 3, 4, 4]),
                  names.MOVIE_INDEX: np.array([1, 1, 1, 2, 2, 3])}
    scores = np.array([[0, 1, 0, 0]] * 6, dtype=np.float32)  # title 1 first for everyone
    scored = []

    def score(users):
        scored.extend(users.tolist())
        return scores[users]

    metrics = grouped_ranking_metrics(score, 4, train, evaluation, (1,),
                                      {"first": np.array([0, 1, 2]), "second": np.array([3, 4])})
    assert sorted(scored) == [0, 1, 2, 3, 4]
    assert (metrics["first"]["ranked_users"], metrics["first"]["recall_at_1"]) == (3.0, 1.0)
    assert (metrics["second"]["ranked_users"], metrics["second"]["recall_at_1"]) == (2.0, 0.0)
    assert metrics[ALL_USERS]["recall_at_1"] == pytest.approx(3 / 5)
    assert metrics[ALL_USERS] == user_ranking_metrics(lambda users: scores[users], 4, train,
                                                      evaluation, (1,))


def test_recent_popularity_ranks_by_the_last_tenth_of_the_train_period():
    """Title 0 is the most rated of all time, title 2 in the last 10 % of the period (times
    91..100 of 0..100); all-time counts order the titles the recent period ties."""
    train = {names.USER_INDEX: np.array([0, 1, 2, 3, 0, 1]),
             names.MOVIE_INDEX: np.array([0, 0, 0, 1, 2, 2]),
             names.RATING_TIMESTAMP: np.array([0, 10, 20, 30, 95, 100])}
    recent = recent_popularity_scorer(train, 4)(np.array([5]))[0]
    assert np.argsort(-recent, kind="stable").tolist() == [2, 0, 1, 3]
    overall = popularity_scorer(train, 4)(np.array([5]))[0]
    assert np.argsort(-overall, kind="stable").tolist() == [0, 2, 1, 3]
    untimed = {name: train[name] for name in (names.USER_INDEX, names.MOVIE_INDEX)}
    np.testing.assert_array_equal(recent_popularity_scorer(untimed, 4)(np.array([5])),
                                  popularity_scorer(untimed, 4)(np.array([5])))

