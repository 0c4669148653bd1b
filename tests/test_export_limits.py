"""The exported signatures that score every catalog title bound the scores one request builds
(ServingLimits.max_scores), in a TF-only process as TF Serving runs them."""

import base64

import numpy as np
import pytest
import tensorflow as tf

import names
from models.hparams import TrainingConfig
from tests.served import serve_in_subprocess

RAW_SPEC = {
    names.USER_ID: tf.io.FixedLenFeature([], tf.string),
    names.MOVIE_TITLE: tf.io.FixedLenFeature([], tf.string),
    names.USER_RATING: tf.io.FixedLenFeature([], tf.float32),
}
USERS = [f"u{i}" for i in range(6)]
TITLES = [f"Title {i}" for i in range(10)]
ROWS_OF_SCORES = 5  # max_scores = 5 rows of the 10-title catalog


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from models.export import ServingLimits, save_serving_model
    from models.model import MovieLensModel
    from tests.tft_beam import analyze_and_transform

    rows = [{names.USER_ID: USERS[i % len(USERS)].encode(),
             names.MOVIE_TITLE: TITLES[(i * 7) % len(TITLES)].encode(),
             names.USER_RATING: float(1 + i % 5)} for i in range(60)]
    _, output = analyze_and_transform(rows, RAW_SPEC)
    num_users = output.vocabulary_size_by_name(names.USER_VOCABULARY)
    num_movies = output.vocabulary_size_by_name(names.MOVIE_VOCABULARY)
    assert num_movies == len(TITLES)
    tf.keras.utils.set_random_seed(7)
    model = MovieLensModel(TrainingConfig(embedding_dim=4, rating_layers=(4,), jit_compile=False),
                           num_users, num_movies)
    model_dir = str(tmp_path_factory.mktemp("model"))
    save_serving_model(model, output, model_dir, ServingLimits(
        max_k=3, max_batch=16, max_exclusions=4, rerank_depth=3,
        max_scores=ROWS_OF_SCORES * num_movies))
    catalog = [title.decode() for title in output.vocabulary_by_name(names.MOVIE_VOCABULARY)]
    return {"model_dir": model_dir, "catalog": catalog}


def _example(user: str, title: str) -> dict:
    example = tf.train.Example(features=tf.train.Features(feature={
        names.USER_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[user.encode()])),
        names.MOVIE_TITLE: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[title.encode()]))}))
    return {"b64": base64.b64encode(example.SerializeToString()).decode()}


def _request(signature: str, examples) -> dict:
    return {"signature_name": signature, "inputs": {"examples": list(examples)}}


PAIRS = [(USERS[i % len(USERS)], TITLES[(i * 3) % len(TITLES)]) for i in range(12)]


@pytest.fixture(scope="module")
def answers(exported, tmp_path_factory):
    examples = [_example(user, title) for user, title in PAIRS]
    requests = {
        # Empty strings are no tf.Example with a user_id: refused before parsing, the
        # request fails on its size, not on what it holds.
        "serving_over": _request(names.SERVING_SIGNATURE, [""] * (ROWS_OF_SCORES + 1)),
        "serving_huge": _request(names.SERVING_SIGNATURE, [""] * 100_000),
        "eval_over": _request(names.EVAL_SIGNATURE, [""] * 8193),
        "transform_over": _request(names.TRANSFORM_SIGNATURE, [""] * 8193),
        "evaluate": _request(names.EVAL_SIGNATURE, examples),
    }
    for start in range(0, len(examples), ROWS_OF_SCORES):
        requests[f"serving_{start}"] = _request(names.SERVING_SIGNATURE,
                                                examples[start:start + ROWS_OF_SCORES])
    keys = list(requests)
    result = serve_in_subprocess(exported["model_dir"], [requests[key] for key in keys],
                                 tmp_path_factory.mktemp("serve"))
    return {**dict(zip(keys, result["answers"])), "warmup": result["warmup"],
            "blocked": result["blocked_imports_attempted"], "catalog": exported["catalog"]}


def test_serving_default_refuses_more_rows_than_max_scores_allow_before_parsing(answers):
    for key in ("serving_over", "serving_huge"):
        error = answers[key].get("error", "")
        assert f"more than {ROWS_OF_SCORES} rows" in error, answers[key]
        assert "catalog" in error and "user_id" not in error  # its size, not its content
    assert answers["blocked"] == []


def test_serving_default_answers_up_to_the_bound(answers):
    outputs = answers["serving_0"]["outputs"]
    assert np.array(outputs[names.RETRIEVAL_OUTPUT]).shape == (ROWS_OF_SCORES, len(TITLES))


def test_evaluate_examples_ranks_a_batch_larger_than_the_bound_in_chunks(answers):
    """TFMA's batches are larger than the score bound: evaluate_examples still takes them
    (ranking a chunk at a time), and gives each example the rank serving_default's scores
    give its own title."""
    scores = np.concatenate([np.array(answers[f"serving_{start}"]["outputs"][
        names.RETRIEVAL_OUTPUT]) for start in range(0, len(PAIRS), ROWS_OF_SCORES)])
    catalog = answers["catalog"]  # column j: the vocabulary's j-th title
    ranks = answers["evaluate"]["outputs"][names.RETRIEVAL_OUTPUT]
    assert len(ranks) == len(PAIRS) > 2 * ROWS_OF_SCORES
    for row, (_, title) in enumerate(PAIRS):
        own = scores[row, catalog.index(title)]
        assert ranks[row] == np.sum(scores[row] > own), row
    assert np.array(answers["evaluate"]["outputs"][names.RATING_OUTPUT]).shape == (len(PAIRS), 1)


def test_tfmas_signatures_refuse_more_than_its_largest_batch(answers):
    for key in ("eval_over", "transform_over"):
        assert "more than 8192 rows" in answers[key].get("error", ""), answers[key]


def test_the_warmup_requests_replay(answers):
    assert {names.SERVING_SIGNATURE, names.EVAL_SIGNATURE} <= {
        replayed["signature"] for replayed in answers["warmup"]}
