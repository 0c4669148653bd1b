"""The rating's time (rating_time_bias): Transform's time bins on real TFT Beam, the rating
head's time biases, and the exported model predicting for a time sent or for now."""

import tempfile

import numpy as np
import pytest
import tensorflow as tf

import names
from components.movielens_example_gen.examples import make_example
from models import export, towers, training
from models.hparams import ConfigError, TrainingConfig
from tests.test_side_features import _tiny_side
from tests.tft_beam import analyze_and_transform

DAY = 86_400
START = 880_000_000  # 1997-11-20
LAST_BIN = names.NOW_TIME_BIN
SPEC = {
    names.USER_ID: tf.io.FixedLenFeature([1], tf.string),
    names.MOVIE_TITLE: tf.io.FixedLenFeature([1], tf.string),
    names.USER_RATING: tf.io.FixedLenFeature([1], tf.float32),
    names.TIMESTAMP: tf.io.FixedLenFeature([1], tf.int64),
}
# Ratings over NUM_TIME_BINS days: the bins are then whole days, day d in bin d.
ROWS = [{names.USER_ID: [str(day % 3).encode()], names.MOVIE_TITLE: [f"Movie {day % 4}".encode()],
         names.USER_RATING: [float(1 + day % 5)], names.TIMESTAMP: [START + day * DAY]}
        for day in range(names.NUM_TIME_BINS + 1)]


@pytest.fixture(scope="module")
def transformed():
    return analyze_and_transform(ROWS, SPEC)


def test_time_bins_are_equal_spans_of_the_analyzed_times_and_now_is_the_last(transformed):
    rows, output = transformed
    bins = [row[names.RATING_TIME_BIN] for row in rows]
    assert bins == list(range(names.NUM_TIME_BINS)) + [LAST_BIN]  # the latest closes the last

    layer = output.transform_features_layer()
    later, earlier, absent = START + 400 * DAY, START - 400 * DAY, -1  # -1: serving's default
    served = layer({names.USER_ID: tf.constant([[b"1"]] * 4),
                    names.MOVIE_TITLE: tf.constant([[b"Movie 1"]] * 4),
                    names.USER_RATING: tf.constant([[3.0]] * 4),
                    names.TIMESTAMP: tf.constant([[later], [earlier], [absent],
                                                  [START + 5 * DAY + DAY // 2]], tf.int64)})
    assert served[names.RATING_TIME_BIN].numpy().tolist() == [LAST_BIN, 0, LAST_BIN, 5]


def _config(**overrides):
    return TrainingConfig(**{"embedding_dim": 8, "rating_layers": (8,), "top_ks": (1,),
                             "epochs": 2, "train_batch_size": 16, "recall_ks": (),
                             "jit_compile": False, "rating_time_bias": True, **overrides})


def _columns(rows):
    return {name: tf.constant([row[name] for row in rows])
            for name in (names.USER_INDEX, names.MOVIE_INDEX, names.RATING_LABEL,
                         names.RATING_MASK, names.RATING_TIME_BIN)}


def test_the_head_adds_the_time_bins_bias_and_the_titles_bias_of_that_bin():
    model = training.build_model(_config(), num_users=3, num_movies=4)
    head = model.rating_head
    rng = np.random.default_rng(0)
    time_bias = rng.normal(size=head.time_bias.shape)
    movie_time_bias = rng.normal(size=head.movie_time_bias.shape)  # [titles + OOV, bins]
    head.time_bias.assign(time_bias)
    head.movie_time_bias.assign(movie_time_bias)
    users, movies = tf.constant([0, 2, 1], tf.int64), tf.constant([3, 0, 4], tf.int64)  # 4: OOV
    bins = tf.constant([0, 7, LAST_BIN], tf.int64)
    inputs = {names.USER_INDEX: users, names.MOVIE_INDEX: movies}
    timed = model({**inputs, names.RATING_TIME_BIN: bins})[names.RATING_OUTPUT].numpy()[:, 0]
    untimed = model(inputs)[names.RATING_OUTPUT].numpy()[:, 0]  # no bin given: now

    head.time_bias.assign(tf.zeros_like(head.time_bias))
    head.movie_time_bias.assign(tf.zeros_like(head.movie_time_bias))
    without = model({**inputs, names.RATING_TIME_BIN: bins})[names.RATING_OUTPUT].numpy()[:, 0]
    expected = without + time_bias[bins.numpy()] + movie_time_bias[movies.numpy(), bins.numpy()]
    np.testing.assert_allclose(timed, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(untimed, without + time_bias[LAST_BIN]
                               + movie_time_bias[movies.numpy(), LAST_BIN], rtol=1e-5, atol=1e-5)


def test_only_the_rating_loss_trains_the_time_biases(transformed):
    rows, _ = transformed
    columns = _columns(rows)
    for rating_weight, moves in ((1.0, True), (0.0, False)):
        config = _config(rating_weight=rating_weight, jit_compile=True)  # as the presets train
        model = training.fit(config, columns, 3, 4, verbose=0).model
        head = model.rating_head
        moved = (np.abs(head.time_bias.numpy()).max() > 0
                 and np.abs(head.movie_time_bias.numpy()).max() > 0)
        assert moved == moves, rating_weight


def test_without_time_bins_in_the_examples_training_says_so(transformed):
    rows, _ = transformed
    columns = _columns(rows)
    del columns[names.RATING_TIME_BIN]
    with pytest.raises(ConfigError, match="query_time need the ratings' time bins"):
        training.fit(_config(), columns, 3, 4, verbose=0)


def test_time_biases_refuse_a_warm_start():
    with pytest.raises(ConfigError, match="rating_time_bias cannot warm-start"):
        TrainingConfig(rating_time_bias=True, warm_start=True)


def test_the_exported_model_rates_for_the_time_sent_and_for_now_without_one(transformed):
    rows, output = transformed
    model = training.fit(_config(serving_max_k=2), _columns(rows), 3, 4, verbose=0).model
    head = model.rating_head
    export_dir = tempfile.mkdtemp()
    export.save_serving_model(model, output, export_dir, export.ServingLimits(2, 16, 4, 3))
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures[names.SERVING_SIGNATURE]

    def served(example):
        return serve(examples=tf.constant([example.SerializeToString()]))[
            names.RATING_OUTPUT].numpy()[0, 0]

    def example(timestamp):
        return make_example("1", "Movie 1", 4.0, timestamp, "1", [1])

    first_day, last_day = served(example(START)), served(example(START + 400 * DAY))
    without_time = tf.train.Example()
    without_time.CopyFrom(example(0))
    del without_time.features.feature[names.TIMESTAMP]
    movie = output.vocabulary_by_name(names.MOVIE_VOCABULARY).index(b"Movie 1")
    bias = head.time_bias.numpy() + head.movie_time_bias.numpy()[movie]
    assert first_day - last_day == pytest.approx(bias[0] - bias[LAST_BIN], abs=1e-5)
    assert served(without_time) == pytest.approx(last_day, abs=1e-6)  # no time: now
    predicted = loaded.signatures[names.PREDICT_SIGNATURE](
        user_id=tf.constant(["1"]), movie_title=tf.constant(["Movie 1"]))
    assert predicted[names.PREDICTED_RATING].numpy()[0] == pytest.approx(last_day, abs=1e-6)


@pytest.mark.parametrize("user_features", [False, True])
def test_the_timed_user_tower_adds_the_bins_embedding_and_now_without_one(user_features):
    side = None
    if user_features:
        side = _tiny_side(num_users=3, num_movies=4)
    config = _config(rating_time_bias=False, query_time=True, user_features=user_features)
    model = training.build_model(config, num_users=3, num_movies=4, side=side)
    tower = model.user_tower
    users, bins = tf.constant([0, 2, 3], tf.int64), tf.constant([0, 9, LAST_BIN], tf.int64)
    features = {names.USER_INDEX: users, names.RATING_TIME_BIN: bins}
    if user_features:  # the examples' own features (here: the table's)
        features.update({name: tf.constant(side.user_features[users.numpy(), column])
                         for column, name in enumerate(names.USER_FEATURE_INDICES)})
    timed = tower(towers.user_input(features, tower)).numpy()
    untimed = tower(users).numpy()  # no bin: now
    inner = tower.tower(users).numpy()
    time_table = tower.time_embedding.embeddings.numpy()
    np.testing.assert_allclose(timed, inner + time_table[bins.numpy()], rtol=1e-6)
    np.testing.assert_allclose(untimed, inner + time_table[LAST_BIN], rtol=1e-6)


def test_the_exported_model_retrieves_for_the_time_sent_and_recommends_for_now(transformed):
    rows, output = transformed
    config = _config(rating_time_bias=False, query_time=True, serving_max_k=3)
    model = training.fit(config, _columns(rows), 3, 4, verbose=0).model
    export_dir = tempfile.mkdtemp()
    export.save_serving_model(model, output, export_dir, export.ServingLimits(3, 16, 4, 3))
    loaded = tf.saved_model.load(export_dir)

    def retrieval(timestamp):
        example = make_example("1", "Movie 1", 4.0, timestamp, "1", [1])
        return loaded.signatures[names.SERVING_SIGNATURE](
            examples=tf.constant([example.SerializeToString()]))[names.RETRIEVAL_OUTPUT].numpy()[0]

    user = output.vocabulary_by_name(names.USER_VOCABULARY).index(b"1")
    time_table = model.user_tower.time_embedding.embeddings.numpy()
    inner = model.user_tower.tower(tf.constant([user], tf.int64)).numpy()[0]
    catalog = model.catalog_embeddings().numpy()
    np.testing.assert_allclose(retrieval(START), catalog @ (inner + time_table[0]), rtol=1e-4)
    now = retrieval(START + 400 * DAY)
    np.testing.assert_allclose(now, catalog @ (inner + time_table[LAST_BIN]), rtol=1e-4)
    recommended = loaded.signatures[names.RECOMMEND_SIGNATURE](
        user_id=tf.constant(["1"]), k=tf.constant(3))
    np.testing.assert_allclose(recommended[names.SCORES_OUTPUT].numpy()[0],
                               np.sort(now)[::-1][:3], rtol=1e-4)
