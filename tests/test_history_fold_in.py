"""History fold-in (TrainingConfig.history_fold_in): the user tower pools the titles a user
rated, so a user the model never trained is served from their history, by the exported
`recommend_for_history` in a TF-only process as TF Serving runs it, as the Keras model ranks."""

import numpy as np
import pytest
import tensorflow as tf

import names
from models import towers
from models.hparams import TrainingConfig
from serving import client
from tests.served import serve_in_subprocess

SPEC = {
    names.USER_ID: tf.io.FixedLenFeature([1], tf.string),
    names.MOVIE_TITLE: tf.io.FixedLenFeature([1], tf.string),
    names.USER_RATING: tf.io.FixedLenFeature([1], tf.float32),
    names.TIMESTAMP: tf.io.FixedLenFeature([1], tf.int64),
}
TITLES = [f"Title {t} (199{t % 10})" for t in range(12)]
CONFIG = TrainingConfig(embedding_dim=8, rating_layers=(4,), history_fold_in=True,
                        history_length=4, user_id_dropout=0.3, jit_compile=False,
                        serving_max_k=5, serving_max_batch=8, serving_max_exclusions=6,
                        rerank_depth=6, epochs=2, train_batch_size=16)


def _rows():
    """Six users, each rating six titles (users 0-2 the even titles' neighbourhood, 3-5 the
    odd ones'), at increasing times."""
    rows = []
    for user in range(6):
        for t in range(6):
            title = TITLES[(2 * t + user % 2 + user // 2) % len(TITLES)]
            rows.append({names.USER_ID: [str(user).encode()], names.MOVIE_TITLE: [title.encode()],
                         names.USER_RATING: [float(1 + (user + t) % 5)],
                         names.TIMESTAMP: [1_000_000 + 100 * t + user]})
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from models import training
    from models.export import ServingLimits, save_serving_model
    from tests.tft_beam import analyze_and_transform, as_columns

    transformed, output = analyze_and_transform(_rows(), SPEC)
    columns = as_columns(transformed)
    num_users = output.vocabulary_size_by_name(names.USER_VOCABULARY)
    num_movies = output.vocabulary_size_by_name(names.MOVIE_VOCABULARY)
    result = training.fit(CONFIG, columns, num_users, num_movies, verbose=0)
    model = result.model
    # Trained briefly, the history embedding is near its initial values: make it decisive,
    # as training makes it, so the rankings below depend on the history.
    history = towers.history_tower(model.user_tower)
    history.history_embedding.embeddings.assign(
        tf.random.normal(history.history_embedding.embeddings.shape, seed=7))
    limits = ServingLimits.from_config(CONFIG)
    root = tmp_path_factory.mktemp("history")
    save_serving_model(model, output, str(root / "full"), limits)
    save_serving_model(model, output, str(root / "lean"), limits._replace(user_data=False))
    titles = [t.decode() for t in output.vocabulary_by_name(names.MOVIE_VOCABULARY)]
    return {"model": model, "columns": columns, "titles": titles, "num_users": num_users,
            "full": str(root / "full"), "lean": str(root / "lean")}


def test_the_history_table_holds_each_users_latest_titles():
    from models import training

    columns = {names.USER_INDEX: np.array([0, 0, 0, 1, 0]),
               names.MOVIE_INDEX: np.array([3, 1, 2, 4, 0]),
               names.RATING_TIMESTAMP: np.array([10, 40, 30, 5, 20])}
    table = training.fold_in_histories(columns, num_users=3, num_movies=5, length=3, seed=1)
    assert table.shape == (4, 3)
    assert sorted(table[0].tolist()) == [0, 1, 2]  # the latest three, 3 (the oldest) left out
    assert sorted(table[1].tolist()) == [4, 5, 5]  # 5 = the OOV title pads
    assert table[2].tolist() == [5, 5, 5] and table[3].tolist() == [5, 5, 5]


def test_training_hides_the_examples_own_title_and_thins_the_history():
    tower = towers.HistoryUserTower(tf.keras.layers.Embedding(3, 2), num_movies=10,
                                    embedding_dim=2,
                                    histories=np.array([[1, 2, 3, 4, 5, 6, 7, 10],
                                                        [1, 2, 3, 4, 5, 6, 7, 8],
                                                        [10] * 8]))
    users = tf.constant([0, 0, 2], tf.int64)
    tower(users)
    embedding = tower.history_embedding.embeddings.numpy()
    own = tower.tower(users).numpy()
    pooled = tower({names.USER_INDEX: users, names.MOVIE_INDEX: tf.constant([3, 9, 9])}).numpy()
    np.testing.assert_allclose(pooled[0] - own[0], embedding[[1, 2, 4, 5, 6, 7]].mean(0),
                               rtol=1e-5)  # title 3, the example's own, hidden
    np.testing.assert_allclose(pooled[1] - own[1], embedding[[1, 2, 3, 4, 5, 6, 7]].mean(0),
                               rtol=1e-5)
    np.testing.assert_allclose(pooled[2], own[2], rtol=1e-6)  # no history: nothing added
    # A share of the history: ceil(share × titles) of the first; the unknown user (index 2,
    # an id dropped in training) reads user 1's history, at most FOLD_IN_RATINGS of it.
    thinned = tower({names.USER_INDEX: tf.constant([0, 2], tf.int64),
                     names.HISTORY_USER_INDEX: tf.constant([0, 1], tf.int64),
                     names.HISTORY_SHARE: tf.constant([0.3, 1.0])}).numpy()
    own = tower.tower(tf.constant([0, 2], tf.int64)).numpy()
    np.testing.assert_allclose(thinned[0] - own[0], embedding[[1, 2, 3]].mean(0), rtol=1e-5)
    np.testing.assert_allclose(thinned[1] - own[1],
                               embedding[[1, 2, 3, 4, 5][:names.FOLD_IN_RATINGS]].mean(0),
                               rtol=1e-5)


def _keras_top(trained, history_titles, k):
    """The Keras model's k best titles for the unknown user with this history (the history's
    titles left out), by the Trainer's scorer."""
    from models import training

    index = {title: i for i, title in enumerate(trained["titles"])}
    unknown = trained["num_users"]
    scores = training.user_scorer(trained["model"], {unknown: np.array(
        [index[t] for t in history_titles])})(np.array([unknown]))[0]
    scores[[index[t] for t in history_titles]] = -np.inf
    return [trained["titles"][i] for i in np.argsort(-scores, kind="stable")[:k]]


def test_a_new_user_is_served_from_their_history_as_the_model_ranks(trained, tmp_path):
    histories = [[TITLES[0], TITLES[2]], [TITLES[1], TITLES[3], TITLES[5]], [], ["no such title"]]
    requests = [client.history_request(histories, 3)]
    answers = serve_in_subprocess(trained["full"], requests, tmp_path)
    assert answers["blocked_imports_attempted"] == []
    assert names.RECOMMEND_FOR_HISTORY_SIGNATURE in {w["signature"] for w in answers["warmup"]}
    outputs = answers["answers"][0]["outputs"]
    titles = outputs[names.TITLES_OUTPUT]
    assert outputs[names.TITLES_KNOWN] == [2, 3, 0, 0]
    for row, history in enumerate(histories):
        assert not set(titles[row]) & set(history)  # nothing they rated
        if history and history[0] in trained["titles"]:
            assert titles[row] == _keras_top(trained, history, 3)
    assert titles[0] != titles[1]  # another history, other recommendations
    assert titles[2] == titles[3]  # no known title: the unknown user with nothing


def test_the_export_without_user_data_serves_histories_the_same(trained, tmp_path):
    requests = [client.history_request([[TITLES[0], TITLES[2]], [TITLES[4]]], 3),
                client.recommend_request(["0", "3", "nobody"], 3)]
    (tmp_path / "full").mkdir()
    (tmp_path / "lean").mkdir()
    full = serve_in_subprocess(trained["full"], requests, tmp_path / "full")
    lean = serve_in_subprocess(trained["lean"], requests, tmp_path / "lean")
    for with_data, without in zip(full["answers"], lean["answers"]):
        assert without["outputs"][names.TITLES_OUTPUT] == with_data["outputs"][
            names.TITLES_OUTPUT]
        np.testing.assert_allclose(without["outputs"][names.SCORES_OUTPUT],
                                   with_data["outputs"][names.SCORES_OUTPUT], rtol=1e-5,
                                   atol=1e-5)


def test_a_known_users_history_is_part_of_their_query(trained):
    """A user index alone is queried with the history the model holds for them."""
    model = trained["model"]
    history = towers.history_tower(model.user_tower)
    users = tf.constant([0, 1], tf.int64)
    with_history = model.user_tower(users).numpy()
    empty = tf.fill([2, CONFIG.history_length], tf.constant(history.num_movies, tf.int64))
    without = model.user_tower({names.USER_INDEX: users, names.USER_HISTORY: empty}).numpy()
    assert not np.allclose(with_history, without)


def test_history_requests_are_bounded(trained, tmp_path):
    too_wide = client.history_request([TITLES[:7]], 3)  # serving_max_exclusions is 6
    too_many = client.history_request([[TITLES[0]]] * 9, 3)  # serving_max_batch is 8
    bad_k = client.history_request([[TITLES[0]]], 6)  # serving_max_k is 5
    answers = serve_in_subprocess(trained["full"], [too_wide, too_many, bad_k], tmp_path)
    errors = [answer.get("error", "") for answer in answers["answers"]]
    assert names.HISTORY_INPUT in errors[0] and "titles per row" in errors[0]
    assert "more than 8 rows" in errors[1]
    assert "k must be in 1..5" in errors[2]


def test_users_without_fit_examples_get_the_unknown_users_rows():
    """Transform's vocabulary holds the eval split's users too; their own rows were never
    trained, so after training they answer as the unknown user (whose row the id dropout
    trains), not from initializer values."""
    from models import training

    config = TrainingConfig(embedding_dim=4, rating_layers=(4,), rating_biases=True,
                            jit_compile=False)
    model = training.build_model(config, num_users=4, num_movies=3)
    embedding = towers.id_embedding(model.user_tower)
    before = embedding.numpy().copy()
    fit = {names.USER_INDEX: tf.constant([0, 1, 1], tf.int64)}
    assert training.unknown_rows_for_untrained(model, fit) == 2
    after = embedding.numpy()
    np.testing.assert_array_equal(after[:2], before[:2])  # trained users keep theirs
    np.testing.assert_array_equal(after[2], before[4])  # 4 = the unknown user
    np.testing.assert_array_equal(after[3], before[4])
    biases = model.rating_head.user_bias.embeddings.numpy()
    np.testing.assert_array_equal(biases[2:4], np.repeat(biases[4:5], 2, axis=0))
