"""An export without the users' data (ServingLimits.user_data=False): no table of each user's
rated titles or side features in the SavedModel, and the same answers to id requests, in a
TF-only process as TF Serving runs it."""

import os

import numpy as np
import pytest
import tensorflow as tf

import names
from models.hparams import TrainingConfig
from serving import client
from tests.served import serve_in_subprocess

SPEC = {
    names.USER_ID: tf.io.FixedLenFeature([1], tf.string),
    names.MOVIE_TITLE: tf.io.FixedLenFeature([1], tf.string),
    names.USER_RATING: tf.io.FixedLenFeature([1], tf.float32),
    names.USER_GENDER: tf.io.FixedLenFeature([1], tf.int64),
    names.BUCKETIZED_USER_AGE: tf.io.FixedLenFeature([1], tf.float32),
    names.USER_OCCUPATION_TEXT: tf.io.FixedLenFeature([1], tf.string),
    names.USER_ZIP_CODE: tf.io.FixedLenFeature([1], tf.string),
}
USERS = {"1": (1, 25.0, b"engineer", b"94110"), "2": (0, 18.0, b"student", b"10001"),
         "3": (0, 56.0, b"writer", b"T8H1N"), "4": (1, 35.0, b"artist", b"02139")}
TITLES = ["Heat (1995)", "Toy Story (1995)", "Alien (1979)", "Fargo (1996)", "Babe (1995)"]
CONFIG = TrainingConfig(embedding_dim=4, rating_layers=(4,), rating_biases=True,
                        rating_factors=2, rating_history=True, user_features=True,
                        jit_compile=False, serving_max_k=3, serving_max_batch=8,
                        serving_max_exclusions=4, rerank_depth=4)


def _rows():
    rows = []
    for u, (user, (gender, age, occupation, zip_code)) in enumerate(USERS.items()):
        for t in range(u + 1):  # each user a different number of titles
            title = TITLES[(u + 2 * t) % len(TITLES)]
            rows.append({names.USER_ID: [user.encode()], names.MOVIE_TITLE: [title.encode()],
                         names.USER_RATING: [float(1 + (u + t) % 5)],
                         names.USER_GENDER: [gender], names.BUCKETIZED_USER_AGE: [age],
                         names.USER_OCCUPATION_TEXT: [occupation],
                         names.USER_ZIP_CODE: [zip_code]})
    return rows


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    from models import side_features, training
    from models.export import ServingLimits, save_serving_model
    from models.warm_start import vocabulary_names
    from tests.tft_beam import analyze_and_transform, as_columns

    transformed, output = analyze_and_transform(_rows(), SPEC)
    columns = as_columns(transformed)
    num_users = output.vocabulary_size_by_name(names.USER_VOCABULARY)
    num_movies = output.vocabulary_size_by_name(names.MOVIE_VOCABULARY)
    side = side_features.from_transform(output, [columns], num_users, num_movies)
    model = training.build_model(CONFIG, num_users, num_movies, fit_columns=columns, side=side)
    for variable in (model.rating_head.user_bias.embeddings,  # not all zero, as trained
                     model.rating_head.movie_bias.embeddings):
        variable.assign(tf.random.normal(variable.shape, seed=3))
    limits = ServingLimits.from_config(CONFIG)
    root = tmp_path_factory.mktemp("exports")
    save_serving_model(model, output, str(root / "full"), limits)
    save_serving_model(model, output, str(root / "lean"), limits._replace(user_data=False))
    before = model.user_tower.feature_table.numpy(), model.rating_head.user_histories.numpy()
    return {"full": str(root / "full"), "lean": str(root / "lean"), "model": model,
            "tables": before, "num_users": num_users, "num_movies": num_movies,
            "rebuild": lambda: training.build_model(CONFIG, num_users, num_movies,
                                                    fit_columns=columns, side=side),
            "vocabularies": {name: output.vocabulary_by_name(name)
                             for name in vocabulary_names(CONFIG)}}


def _variables(model_dir):
    return dict(tf.train.list_variables(os.path.join(model_dir, "variables", "variables")))


def test_the_export_without_user_data_holds_no_users_titles_or_features(exports):
    full, lean = _variables(exports["full"]), _variables(exports["lean"])
    histories = [exports["num_users"] + 1, exports["num_movies"] + 1]
    for variables, present in ((full, True), (lean, False)):
        assert any("feature_table" in key for key in variables) == present
        assert any("user_histories" in key for key in variables) == present
        assert (histories in variables.values()) == present
    # The trained model itself is left as it was.
    np.testing.assert_array_equal(exports["model"].user_tower.feature_table.numpy(),
                                  exports["tables"][0])
    np.testing.assert_array_equal(exports["model"].rating_head.user_histories.numpy(),
                                  exports["tables"][1])


def test_the_export_without_user_data_serves_ids_as_the_full_one(exports, tmp_path):
    users = list(USERS) + ["nobody"]
    requests = [client.recommend_request(users, 3),
                client.predict_request(users, [TITLES[0], TITLES[1], TITLES[2], TITLES[3],
                                               TITLES[4]]),
                client.recommend_request(users, 2, [[TITLES[0]]] * len(users), ranked=True),
                client.similar_request(TITLES[:2], 2)]
    (tmp_path / "full").mkdir()
    (tmp_path / "lean").mkdir()
    full = serve_in_subprocess(exports["full"], requests, tmp_path / "full")
    lean = serve_in_subprocess(exports["lean"], requests, tmp_path / "lean")
    assert lean["blocked_imports_attempted"] == []
    assert {w["signature"] for w in lean["warmup"]} == {w["signature"] for w in full["warmup"]}
    for asked, with_data, without in zip(requests, full["answers"], lean["answers"]):
        assert "outputs" in without, (asked, without)
        for name, value in with_data["outputs"].items():
            if name == names.TITLES_OUTPUT or isinstance(value[0], bool):
                assert without["outputs"][name] == value, (asked["signature_name"], name)
            else:
                np.testing.assert_allclose(without["outputs"][name], value, rtol=1e-5,
                                           atol=1e-5, err_msg=f"{asked['signature_name']} {name}")


def test_a_warm_start_from_the_export_without_user_data_starts_cold(exports):
    """Its layers are not the trained model's (the users' parts folded in): a later run
    starts cold from it, saying why, instead of reading folded rows as its own."""
    from models.warm_start import WarmStartSource, initialize

    for name, warm in (("full", True), ("lean", False)):
        report = initialize(exports["rebuild"](),
                            WarmStartSource(exports[name], exports["vocabularies"]))
        assert report.warm_started == warm, (name, report.reason)
    assert "not in the base model" in report.reason
