"""Serving parity of the `--preset best` rating head: what TF Serving answers is what the
trained Keras model computes.

tests/test_serving.py serves the tutorial's model. The best preset's rating head adds user and
movie biases over the fit mean, its own factors with SVD++'s implicit feedback (a users ×
titles table of data in the model), title side features in the movie tower, dropout in the
head's own epochs, weight averaging and a clip to the rating scale outside training: each is
a way for the exported signatures to compute something else than the model that was trained
and measured (a table not exported, dropout or the raw prediction at serving). Until this
test, only the Evaluator agreeing with Keras said they did not. (That the exported weights
are the average's is tests/test_weight_average.py's: here both sides read the same
variables.)

A small model with the preset's levers trains as the Trainer trains it (models/run_fn.py), on
the shared fixture pipeline's Transform output and train split; its SavedModel then answers in a
process that can import only TensorFlow, and each answer is compared with the in-process
model on the same (user, title) pairs.
"""

import base64
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pytest
import tensorflow as tf

import names
from components.movielens_example_gen.examples import make_example
from models.hparams import PRESETS, TrainingConfig
from models.model import MovieLensModel
from serving import client
from tests.served import serve_in_subprocess

pytestmark = pytest.mark.pipeline

# float32 through the same ops in two processes: far below a rating's scale.
TOLERANCE = 1e-4
K = 10
UNKNOWN_USER = "nobody (not in the vocabulary)"
UNKNOWN_TITLE = "Unknown (2099)"
TRAIN_ROWS = 8  # (user, title) pairs taken from the train split, with their side features


def small_best_config(fixture: TrainingConfig) -> TrainingConfig:
    """The best preset's model at a size that trains in seconds, with the fixture's serving
    limits (its catalog has 150 titles). Early stopping and its refit are left out: they
    choose how long the same model trains, not what it computes, and a head phase early
    stopping dropped would leave the head's dropout untrained."""
    return PRESETS["best"].with_overrides({
        "embedding_dim": 8, "rating_factors": 4, "rating_layers": (8, 4), "epochs": 2,
        "rating_head_epochs": 2, "train_batch_size": 128, "eval_batch_size": 256,
        "learning_rate": 0.01, "validation_percent": 0, "early_stopping_patience": 0,
        "refit": False,
        **{name: getattr(fixture, name) for name in (
            "serving_max_k", "serving_max_batch", "serving_max_exclusions", "rerank_depth")}})


def _ratings(model: MovieLensModel, inputs: Dict[str, tf.Tensor]) -> np.ndarray:
    """[B]: the model's predicted ratings, called as Keras calls it outside training."""
    return model(inputs)[names.RATING_OUTPUT].numpy()[:, 0]


def _every_pair(model: MovieLensModel, num_users: int,
                num_movies: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user indices, title indices, ratings) of every known (user, title) pair, flat."""
    users, movies = (grid.ravel() for grid in np.meshgrid(np.arange(num_users),
                                                           np.arange(num_movies), indexing="ij"))
    return users, movies, _ratings(model, {names.USER_INDEX: tf.constant(users, tf.int64),
                                           names.MOVIE_INDEX: tf.constant(movies, tf.int64)})


def _push_off_the_scale(model: MovieLensModel, num_users: int, num_movies: int) -> None:
    """Raises the bias of the user with the highest prediction, and lowers that of another
    user with the lowest, until their best (worst) titles are predicted half a star past the
    scale: a model this small, on the fixture's ratings, predicts well inside it, and
    rating_clip would act on no pair compared."""
    users, _, ratings = _every_pair(model, num_users, num_movies)
    low, high = model.rating_head.clip_range
    biases = model.rating_head.user_bias.embeddings
    top = int(users[np.argmax(ratings)])
    bottom = int(users[np.argmin(np.where(users == top, np.inf, ratings))])
    biases[top].assign(biases[top] + (high - ratings[users == top].max() + 0.5))
    biases[bottom].assign(biases[bottom] - (ratings[users == bottom].min() - low + 0.5))


def _pairs(model: MovieLensModel, train: Dict[str, tf.Tensor], num_users: int,
           num_movies: int) -> Tuple[List[Tuple[int, int]], np.ndarray]:
    """(user index, title index) pairs and the model's ratings of them: rows of the train split
    (with their own side-feature columns), a known user with a title they never rated in
    train, the lowest and highest predictions over every known pair (clipped ones, after
    `_push_off_the_scale`), and the OOV user and OOV title (the vocabulary's size: what
    serving maps an unknown id to)."""
    rng = np.random.default_rng(7)
    rows = rng.choice(len(train[names.USER_INDEX]), TRAIN_ROWS, replace=False)
    columns = {name: tf.gather(values, rows) for name, values in train.items()}
    pairs = list(zip(columns[names.USER_INDEX].numpy().tolist(),
                     columns[names.MOVIE_INDEX].numpy().tolist()))
    ratings = [_ratings(model, columns)]

    user = pairs[0][0]
    rated = set(train[names.MOVIE_INDEX].numpy()[train[names.USER_INDEX].numpy() == user])
    unrated = [movie for movie in range(num_movies) if movie not in rated]
    assert unrated, "the fixture's users rate a few of its titles"
    users, movies, every = _every_pair(model, num_users, num_movies)
    more = ([(user, int(rng.choice(unrated)))]
            + [(int(users[i]), int(movies[i])) for i in (np.argmin(every), np.argmax(every))]
            + [(num_users, pairs[1][1]), (pairs[2][0], num_movies)])
    ratings.append(_ratings(model, {
        names.USER_INDEX: tf.constant([u for u, _ in more], tf.int64),
        names.MOVIE_INDEX: tf.constant([m for _, m in more], tf.int64)}))
    return pairs + more, np.concatenate(ratings)


def _serialized(user: str, title: str) -> Dict[str, str]:
    """A serving_default input: a tf.Example of the pair, as REST sends bytes."""
    example = make_example(user, title, 0.0, 0, "0", [1]).SerializeToString()
    return {"b64": base64.b64encode(example).decode("ascii")}


@pytest.fixture(scope="module")
def best(first_run, pipeline_config, tmp_path_factory):
    """The small best-preset model trained and exported as run_fn does, the pairs it was
    asked about, its own answers and those of its SavedModel served with TensorFlow alone."""
    from experiments.common import load_transformed_run
    from models import export, training
    from models.data import check_in_vocabulary

    config = small_best_config(pipeline_config.training)
    # The first run's own artifacts: later tests may run the pipeline again.
    artifacts = first_run["artifacts"]
    data = load_transformed_run(artifacts["Transform"]["transform_graph"],
                                artifacts["MovieLensExampleGen"]["examples"])
    tf_transform_output, train = data.graph, data.train
    num_users, num_movies = data.num_users, data.num_movies
    check_in_vocabulary(train, num_users, num_movies, "train")
    model = training.fit(config, train, num_users, num_movies, side=data.side, verbose=0).model
    _push_off_the_scale(model, num_users, num_movies)
    model_dir = str(tmp_path_factory.mktemp("best") / "model")
    limits = export.ServingLimits.from_config(config)
    export.save_serving_model(model, tf_transform_output, model_dir, limits)

    users = [u.decode() for u in tf_transform_output.vocabulary_by_name(names.USER_VOCABULARY)]
    titles = [t.decode() for t in
              tf_transform_output.vocabulary_by_name(names.MOVIE_VOCABULARY)]
    user_ids, movie_titles = users + [UNKNOWN_USER], titles + [UNKNOWN_TITLE]  # OOV: last
    pairs, ratings = _pairs(model, train, num_users, num_movies)
    assert len(pairs) <= config.serving_max_batch
    pair_users = [user_ids[u] for u, _ in pairs]
    pair_titles = [movie_titles[m] for _, m in pairs]

    # A known user with history, the OOV user, and the users of the extreme predictions.
    asked = sorted({pairs[0][0], pairs[TRAIN_ROWS + 1][0], pairs[TRAIN_ROWS + 2][0],
                    num_users})
    asked_ids = tf.constant(asked, tf.int64)
    scores = tf.linalg.matmul(model.user_tower(asked_ids), model.catalog_embeddings(),
                              transpose_b=True)
    # How many titles recommend_ranked retrieves, as the exported module computes it.
    depth = export.ServingModule(model, tf_transform_output, limits).rerank_depth

    requests = [client.predict_request(pair_users, pair_titles),
                {"signature_name": names.SERVING_SIGNATURE,
                 "inputs": {"examples": [_serialized(u, t) for u, t in
                                         zip(pair_users, pair_titles)]}},
                client.recommend_request([user_ids[u] for u in asked], K),
                client.recommend_request([user_ids[u] for u in asked], K, ranked=True)]
    served = serve_in_subprocess(model_dir, requests, tmp_path_factory.mktemp("serve"))
    predict, examples_answer, recommend, recommend_ranked = served["answers"]
    return {"config": config, "model": model, "pairs": pairs, "ratings": ratings,
            "titles": titles, "scores": scores.numpy(), "depth": depth,
            "asked": asked, "num_users": num_users, "num_movies": num_movies,
            "served": served, "predict": predict, "examples": examples_answer,
            "recommend": recommend, "recommend_ranked": recommend_ranked}


def test_the_model_has_the_best_presets_rating_head(best):
    """What this module checks is only worth it with the levers on."""
    head = best["model"].rating_head
    assert head.use_biases and head.use_factors and head.use_history
    assert head.clip_range is not None
    config = best["config"]
    assert config.rating_head_dropout and config.weight_averaging
    assert config.movie_genres and config.title_tokens and config.sampling_bias_correction


def test_serving_never_tried_to_import_the_training_stack(best):
    assert best["served"]["blocked_imports_attempted"] == []


def test_predict_gives_the_trained_models_ratings(best):
    outputs = best["predict"]["outputs"]
    num_users, num_movies = best["num_users"], best["num_movies"]
    assert outputs[names.USER_KNOWN] == [u < num_users for u, _ in best["pairs"]]
    assert outputs[names.MOVIE_KNOWN] == [m < num_movies for _, m in best["pairs"]]
    assert outputs[names.PREDICTED_RATING] == pytest.approx(best["ratings"].tolist(),
                                                            abs=TOLERANCE)
    low, high = best["model"].rating_head.clip_range
    assert min(best["ratings"]) == low and max(best["ratings"]) == high  # clipped pairs
    assert all(low <= r <= high for r in outputs[names.PREDICTED_RATING])


def test_serving_default_gives_the_trained_models_ratings(best):
    """The tf.Example path (the Transform graph in front of the towers), as TFMA reads it."""
    rating = [row[0] for row in best["examples"]["outputs"][names.RATING_OUTPUT]]
    assert rating == pytest.approx(best["ratings"].tolist(), abs=TOLERANCE)


def _assert_same_top_k(titles: Sequence[str], scores: Sequence[float], catalog: List[str],
                       reference: np.ndarray, best_reference: np.ndarray) -> None:
    """The served titles and scores are the reference's top k: each title's reference score is
    its served score, and the scores are the k best of the reference (titles whose scores
    tie within TOLERANCE may come in either order)."""
    assert len(set(titles)) == len(titles) == len(best_reference)
    assert scores == pytest.approx(best_reference.tolist(), abs=TOLERANCE)
    indices = [catalog.index(title) for title in titles]
    assert reference[indices].tolist() == pytest.approx(scores, abs=TOLERANCE)


def test_recommend_gives_the_trained_models_titles_and_scores(best):
    outputs = best["recommend"]["outputs"]
    assert outputs[names.USER_KNOWN] == [u < best["num_users"] for u in best["asked"]]
    for row, reference in enumerate(best["scores"]):
        _assert_same_top_k(outputs[names.TITLES_OUTPUT][row], outputs[names.SCORES_OUTPUT][row],
                           best["titles"], reference, np.sort(reference)[::-1][:K])


def test_recommend_ranked_orders_by_the_trained_rating_head(best):
    """The retrieved titles ordered by the rating head: its ratings, from the towers and the
    head as they were trained."""
    outputs = best["recommend_ranked"]["outputs"]
    model = best["model"]
    for row, user in enumerate(best["asked"]):
        retrieved = np.argsort(-best["scores"][row], kind="stable")[:best["depth"]]
        titles = outputs[names.TITLES_OUTPUT][row]
        assert {best["titles"].index(t) for t in titles} <= set(retrieved.tolist())
        ratings = np.full(best["num_movies"], -np.inf, np.float32)
        ratings[retrieved] = _ratings(model, {
            names.USER_INDEX: tf.constant([user] * len(retrieved), tf.int64),
            names.MOVIE_INDEX: tf.constant(retrieved, tf.int64)})
        _assert_same_top_k(titles, outputs[names.SCORES_OUTPUT][row], best["titles"], ratings,
                           np.sort(ratings)[::-1][:K])
