"""Warm start: a model trained on window A, exported as the Trainer exports it, initializes a
model of window B, whose vocabularies lose ids, gain ids and change order: rows go by id."""

import json
import os
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
import tensorflow as tf

import names
from models.hparams import ConfigError, TrainingConfig
from models.model import MovieLensModel, make_optimizer
from models.warm_start import (
    RowCounts,
    WarmStartError,
    WarmStartSource,
    initialize,
    row_sources,
    warm_start,
)

RAW_SPEC = {
    names.USER_ID: tf.io.FixedLenFeature([], tf.string),
    names.MOVIE_TITLE: tf.io.FixedLenFeature([], tf.string),
    names.USER_RATING: tf.io.FixedLenFeature([], tf.float32),
}
CONFIG = TrainingConfig(embedding_dim=4, rating_layers=(8,), top_ks=(1, 5), recall_ks=(5,),
                        rating_biases=True, learning_rate=0.5, train_batch_size=16,
                        eval_batch_size=16, serving_max_k=3, serving_max_batch=8,
                        serving_max_exclusions=4, rerank_depth=4, jit_compile=False)

# Window A's ids by how often they occur (TFT's vocabulary order: most frequent first).
USERS_A = [("u1", 8), ("u2", 7), ("u3", 6), ("u4", 5), ("u5", 4), ("u6", 3), ("u7", 2), ("u8", 1)]
TITLES_A = [(f"Title {c}", 8 - i) for i, c in enumerate("ABCDEFGH")]
# Window B: u2, u4, u7 and titles B, D, G gone; u9, u10, I, J new; the order changed.
USERS_B = [("u8", 9), ("u3", 8), ("u9", 7), ("u1", 6), ("u6", 5), ("u10", 4), ("u5", 3)]
TITLES_B = [("Title H", 9), ("Title C", 8), ("Title I", 7), ("Title A", 6), ("Title E", 5),
            ("Title J", 4), ("Title F", 3)]
CARRIED_USERS, CARRIED_TITLES = {"u8", "u3", "u1", "u6", "u5"}, {"H", "C", "A", "E", "F"}


def _ids(counted: List[Tuple[str, int]]) -> List[bytes]:
    return [id_.encode() for id_, _ in counted]


VOCABULARIES_B = {names.USER_VOCABULARY: _ids(USERS_B), names.MOVIE_VOCABULARY: _ids(TITLES_B)}


def _rows(users: List[Tuple[str, int]], titles: List[Tuple[str, int]]) -> List[Dict]:
    """Ratings in which each id occurs its given number of times."""
    user_ids = [u for u, count in users for _ in range(count)]
    title_ids = [t for t, count in titles for _ in range(count)]
    assert len(user_ids) == len(title_ids)
    return [{names.USER_ID: u.encode(), names.MOVIE_TITLE: t.encode(),
             names.USER_RATING: float(1 + i % 5)}
            for i, (u, t) in enumerate(zip(user_ids, title_ids))]


def _analyze(rows: List[Dict], output_dir: str, spec: Optional[Dict] = None):
    """Transform's output for these rows (of `spec`, default RAW_SPEC), as the pipeline's
    Transform writes it."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from models.preprocessing import preprocessing_fn

    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(spec or RAW_SPEC))
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    metadata_io.write_metadata(
        metadata, os.path.join(output_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(output_dir)


def _model(config: TrainingConfig, vocabularies: Dict[str, List[bytes]]) -> MovieLensModel:
    tf.keras.utils.set_random_seed(config.seed)
    return MovieLensModel(config, len(vocabularies[names.USER_VOCABULARY]),
                          len(vocabularies[names.MOVIE_VOCABULARY]))


def _weights(model: MovieLensModel) -> Dict[str, np.ndarray]:
    head = model.rating_head
    return {"user": model.user_tower.embeddings.numpy(),
            "movie": model.movie_tower.embeddings.numpy(),
            "user_bias": head.user_bias.embeddings.numpy(),
            "movie_bias": head.movie_bias.embeddings.numpy(),
            **{f"mlp_{i}": v.numpy() for i, v in enumerate(head.mlp.variables)}}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Window A's model, trained a few steps and exported as the Trainer exports it; its
    vocabularies and its weights as trained."""
    from models.export import ServingLimits, save_serving_model

    root = tmp_path_factory.mktemp("warm_start")
    transform = _analyze(_rows(USERS_A, TITLES_A), str(root / "transform_a"))
    vocabularies = {name: transform.vocabulary_by_name(name)
                    for name in (names.USER_VOCABULARY, names.MOVIE_VOCABULARY)}
    assert vocabularies[names.USER_VOCABULARY] == _ids(USERS_A)  # the order assumed here
    assert vocabularies[names.MOVIE_VOCABULARY] == _ids(TITLES_A)
    model = _model(CONFIG, vocabularies)
    model.compile(optimizer=make_optimizer(CONFIG))
    rng = np.random.default_rng(0)
    batch = {names.USER_INDEX: rng.integers(0, len(USERS_A), 64),
             names.MOVIE_INDEX: rng.integers(0, len(TITLES_A), 64),
             names.RATING_LABEL: rng.integers(1, 6, 64).astype(np.float32)}
    model.fit(tf.data.Dataset.from_tensor_slices(batch).batch(16), epochs=1, verbose=0)
    save_serving_model(model, transform, str(root / "model_a"),
                       ServingLimits.from_config(CONFIG))
    return {"dir": str(root / "model_a"), "vocabularies": vocabularies,
            "weights": _weights(model), "root": root}


def test_row_sources_map_ids_by_value_and_the_oov_row_to_the_oov_row():
    sources = row_sources([b"a", b"b", b"c"], [b"c", b"d", b"a"])
    assert sources.tolist() == [2, -1, 0, 3]  # c, d (new), a, then OOV ← OOV


def test_known_ids_keep_their_rows_new_ids_their_fresh_rows_the_head_its_weights(base):
    model = _model(CONFIG, VOCABULARIES_B)
    fresh = _weights(model)
    report = warm_start(model, base["dir"], VOCABULARIES_B)
    warm, old = _weights(model), base["weights"]

    for vocabulary, tables, counted, carried_ids in (
            (names.USER_VOCABULARY, ("user", "user_bias"), USERS_B, CARRIED_USERS),
            (names.MOVIE_VOCABULARY, ("movie", "movie_bias"), TITLES_B,
             {f"Title {c}" for c in CARRIED_TITLES})):
        old_ids = [i.decode() for i in base["vocabularies"][vocabulary]]
        for table in tables:
            for row, (id_, _) in enumerate(counted):
                if id_ in carried_ids:
                    np.testing.assert_array_equal(warm[table][row], old[table][old_ids.index(id_)],
                                                  err_msg=f"{table} {id_}")
                else:
                    assert id_ not in old_ids
                    np.testing.assert_array_equal(warm[table][row], fresh[table][row],
                                                  err_msg=f"{table} {id_}")
            # The OOV row (after the vocabulary in both tables) carries over too.
            np.testing.assert_array_equal(warm[table][len(counted)], old[table][len(old_ids)])
        # The ids moved: a copy by index would have given other rows.
        assert any(old_ids.index(id_) != row for row, (id_, _) in enumerate(counted)
                   if id_ in carried_ids)
        counts = report.rows[vocabulary]
        carried = len(carried_ids)
        assert (counts.carried, counts.new, counts.dropped) == (
            carried, len(counted) - carried, len(old_ids) - carried)
    for name in old:
        if name.startswith("mlp_"):
            np.testing.assert_array_equal(warm[name], old[name], err_msg=name)
    assert not np.array_equal(warm["user"], fresh["user"])  # something was carried at all
    assert report.warm_started and report.base_model == base["dir"]
    assert len(report.copied) == 4  # the MLP's two kernels and biases


@pytest.mark.parametrize("change, named", [
    ({"embedding_dim": 5}, "user_tower/embeddings: base model [9, 4], new model [8, 5]"),
    ({"rating_layers": (8, 4)}, "rating_head/mlp/layer_with_weights-2/kernel: not in the base"),
    ({"rating_layers": (6,)}, "rating_head/mlp/layer_with_weights-0/kernel: base model [8, 8], "
                              "new model [8, 6]"),
    ({"rating_biases": False}, "rating_head/user_bias/embeddings: only in the base model"),
])
def test_a_layer_that_changed_beyond_the_vocabulary_means_a_cold_start(base, change, named):
    config = TrainingConfig(**{**json.loads(CONFIG.to_json()), **change})
    model = _model(config, VOCABULARIES_B)
    before = [v.numpy() for v in model.variables]
    with pytest.raises(WarmStartError) as error:
        warm_start(model, base["dir"], VOCABULARIES_B)
    assert named in str(error.value)
    report = initialize(model, WarmStartSource(base["dir"], VOCABULARIES_B))
    assert not report.warm_started and named in report.reason
    assert report.base_model == base["dir"]
    for variable, value in zip(model.variables, before):  # nothing was written
        np.testing.assert_array_equal(variable.numpy(), value)


def test_no_base_model_or_an_unreadable_one_means_a_cold_start(tmp_path):
    model = _model(CONFIG, VOCABULARIES_B)
    before = _weights(model)
    first = initialize(model, WarmStartSource(None, VOCABULARIES_B))
    assert (first.warm_started, first.base_model, first.reason) == (False, None, "no base model")
    missing = initialize(model, WarmStartSource(str(tmp_path / "nothing"), VOCABULARIES_B))
    assert not missing.warm_started and "no SavedModel variables" in missing.reason
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_a_base_model_without_its_user_vocabulary_is_refused_by_name(base, tmp_path):
    """A model exported before the export saved `user_ids` (its layers and titles only)."""
    old = _model(CONFIG, base["vocabularies"])
    module = tf.Module()
    module.user_tower, module.movie_tower = old.user_tower, old.movie_tower
    module.rating_head = old.rating_head
    module.catalog_titles = tf.Variable(base["vocabularies"][names.MOVIE_VOCABULARY])
    tf.saved_model.save(module, str(tmp_path / "old"))
    with pytest.raises(WarmStartError, match="holds no user_id_vocabulary .*before warm starts"):
        warm_start(_model(CONFIG, VOCABULARIES_B), str(tmp_path / "old"), VOCABULARIES_B)


def test_warm_start_epochs_apply_to_a_warm_start_only():
    config = TrainingConfig(epochs=3, warm_start=True, warm_start_epochs=1)
    assert (config.epochs_to_train(True), config.epochs_to_train(False)) == (1, 3)
    assert TrainingConfig(epochs=3, warm_start=True).epochs_to_train(True) == 3
    with pytest.raises(ConfigError, match="warm_start_epochs needs warm_start"):
        TrainingConfig(warm_start_epochs=1)
    with pytest.raises(ConfigError, match="warm_start_epochs must be >= 0"):
        TrainingConfig(warm_start=True, warm_start_epochs=-1)
    assert not TrainingConfig().warm_start  # the tutorial's config starts cold


def _write_examples(rows: List[Dict], path: str) -> None:
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            feature = {
                names.USER_ID: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[row[names.USER_ID]])),
                names.MOVIE_TITLE: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[row[names.MOVIE_TITLE]])),
                names.USER_RATING: tf.train.Feature(
                    float_list=tf.train.FloatList(value=[row[names.USER_RATING]])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())


def test_run_fn_warm_starts_from_the_base_model_and_says_so(base):
    """The Trainer's run_fn on window B with window A's model as TFX's base_model."""
    from tfx.components.trainer.fn_args_utils import FnArgs

    from models import run_fn
    from models.hparams import TRAINING_CONFIG_KEY

    root = base["root"]
    rows = _rows(USERS_B, TITLES_B)
    transform = _analyze(rows, str(root / "transform_b"))
    assert transform.vocabulary_by_name(names.USER_VOCABULARY) == _ids(USERS_B)
    _write_examples(rows, str(root / "examples_b.gz"))
    config = TrainingConfig(**{**json.loads(CONFIG.to_json()), "warm_start": True,
                               "epochs": 3, "warm_start_epochs": 1})
    fn_args = FnArgs(train_files=[str(root / "examples_b.gz")],
                     eval_files=[str(root / "examples_b.gz")],
                     transform_output=str(root / "transform_b"),
                     serving_model_dir=str(root / "model_b"), model_run_dir=str(root / "run_b"),
                     custom_config={TRAINING_CONFIG_KEY: config.to_json()},
                     base_model=base["dir"])
    run_fn.run_fn(fn_args)

    with open(root / "run_b" / names.WARM_START_FILE) as f:
        report = json.load(f)
    assert report["warm_started"] and report["base_model"] == base["dir"]
    assert report["rows"][names.USER_VOCABULARY] == {"carried": 5, "new": 2, "dropped": 3}
    assert report["rows"][names.MOVIE_VOCABULARY] == {"carried": 5, "new": 2, "dropped": 3}
    with open(root / "run_b" / names.TRAINING_LOG_FILE) as f:
        assert json.load(f)["epochs_trained"] == 1  # warm_start_epochs, not epochs
    # The new model is a base for the next window in turn: it holds its own vocabularies.
    again = _model(CONFIG, VOCABULARIES_B)
    assert warm_start(again, str(root / "model_b"), VOCABULARIES_B).rows[
        names.USER_VOCABULARY].carried == len(USERS_B)


def test_rating_history_warm_starts_its_factors_by_id_and_keeps_this_runs_histories(tmp_path):
    """The users' title histories are this run's data (another shape each window), not
    weights: a warm start leaves them as built and carries the implicit factors by title."""
    from models.export import ServingLimits, save_serving_model
    from models.training import user_histories

    config = CONFIG.with_overrides({"rating_factors": 2, "rating_history": True})
    transform = _analyze(_rows(USERS_A, TITLES_A), str(tmp_path / "transform_a"))
    old_vocabularies = {name: transform.vocabulary_by_name(name)
                        for name in (names.USER_VOCABULARY, names.MOVIE_VOCABULARY)}

    def model(vocabularies, seed):
        users, titles = (len(vocabularies[names.USER_VOCABULARY]),
                         len(vocabularies[names.MOVIE_VOCABULARY]))
        rng = np.random.default_rng(seed)
        pairs = {names.USER_INDEX: tf.constant(rng.integers(0, users, 30)),
                 names.MOVIE_INDEX: tf.constant(rng.integers(0, titles, 30))}
        tf.keras.utils.set_random_seed(config.seed)
        return MovieLensModel(config, users, titles,
                              user_histories=user_histories(pairs, users, titles))

    old = model(old_vocabularies, 0)
    old.rating_head.implicit_factors.embeddings.assign_add(
        tf.ones_like(old.rating_head.implicit_factors.embeddings))  # "trained"
    save_serving_model(old, transform, str(tmp_path / "model_a"),
                       ServingLimits.from_config(config))
    new = model(VOCABULARIES_B, 1)
    histories = new.rating_head.user_histories.numpy()
    assert histories.shape != old.rating_head.user_histories.shape
    report = warm_start(new, str(tmp_path / "model_a"), VOCABULARIES_B)
    assert report.warm_started
    np.testing.assert_array_equal(new.rating_head.user_histories.numpy(), histories)
    old_titles = [t.decode() for t in old_vocabularies[names.MOVIE_VOCABULARY]]
    for row, (title, _) in enumerate(TITLES_B):
        if title in old_titles:
            np.testing.assert_array_equal(
                new.rating_head.implicit_factors.embeddings[row].numpy(),
                old.rating_head.implicit_factors.embeddings[old_titles.index(title)].numpy())


# User side features whose vocabularies TFT orders differently in the two windows: in A the
# occupations by frequency are engineer, student, artist; in B student, writer (new),
# engineer (artist gone). Likewise the age buckets and zip prefixes (their first two digits).
USER_FEATURES_A = {"u1": (1, 25.0, "engineer", "10001"), "u2": (0, 25.0, "engineer", "10002"),
                   "u3": (1, 25.0, "engineer", "20001"), "u4": (0, 18.0, "student", "20002"),
                   "u5": (1, 18.0, "student", "30001"), "u6": (0, 35.0, "artist", "30002"),
                   "u7": (1, 35.0, "engineer", "10003"), "u8": (0, 18.0, "student", "10004")}
USER_FEATURES_B = {"u8": (0, 18.0, "student", "30003"), "u3": (1, 18.0, "student", "30004"),
                   "u9": (1, 50.0, "writer", "30005"), "u1": (1, 25.0, "engineer", "20003"),
                   "u6": (0, 35.0, "writer", "20004"), "u10": (0, 18.0, "student", "10005"),
                   "u5": (1, 18.0, "student", "40001")}
FEATURE_SPEC = {
    **RAW_SPEC,
    names.USER_GENDER: tf.io.FixedLenFeature([], tf.int64),
    names.BUCKETIZED_USER_AGE: tf.io.FixedLenFeature([], tf.float32),
    names.USER_OCCUPATION_TEXT: tf.io.FixedLenFeature([], tf.string),
    names.USER_ZIP_CODE: tf.io.FixedLenFeature([], tf.string),
}
FEATURE_VOCABULARIES = tuple(names.USER_FEATURE_VOCABULARIES.values())


def _feature_rows(users, titles, features) -> List[Dict]:
    rows = _rows(users, titles)
    for row in rows:
        gender, age, occupation, zip_code = features[row[names.USER_ID].decode()]
        row.update({names.USER_GENDER: gender, names.BUCKETIZED_USER_AGE: age,
                    names.USER_OCCUPATION_TEXT: occupation.encode(),
                    names.USER_ZIP_CODE: zip_code.encode()})
    return rows


def _featured_model(config, transform, rows):
    """A user_features model over `transform`'s vocabularies, its feature table from `rows`."""
    from models.side_features import SideFeatures, user_feature_sizes

    vocabularies = {name: transform.vocabulary_by_name(name)
                    for name in (names.USER_VOCABULARY, names.MOVIE_VOCABULARY)
                    + FEATURE_VOCABULARIES}
    sizes = user_feature_sizes(transform)
    users = vocabularies[names.USER_VOCABULARY]
    table = np.tile(np.array(sizes) - names.NUM_OOV_BUCKETS, (len(users) + 1, 1))
    for row in rows:
        values = (row[names.USER_GENDER], str(int(row[names.BUCKETIZED_USER_AGE])).encode(),
                  row[names.USER_OCCUPATION_TEXT],
                  row[names.USER_ZIP_CODE][:names.ZIP_PREFIX_LENGTH])
        indices = [values[0]] + [vocabularies[name].index(value) for name, value in
                                 zip(FEATURE_VOCABULARIES, values[1:])]
        table[users.index(row[names.USER_ID])] = indices
    tf.keras.utils.set_random_seed(config.seed)
    model = MovieLensModel(config, len(users), len(vocabularies[names.MOVIE_VOCABULARY]),
                           side=SideFeatures(user_features=table, user_feature_sizes=sizes))
    return model, vocabularies


def _feature_tables(model) -> Dict[str, np.ndarray]:
    tower = model.user_tower
    return {feature: layer.embeddings.numpy()
            for feature, layer in zip(names.USER_FEATURE_INDICES, tower.feature_embeddings)}


def test_user_feature_embeddings_warm_start_by_value_not_by_index(tmp_path):
    """TFT orders the age, occupation and zip prefix vocabularies by frequency in each run:
    a value's embedding row follows the value, as an id's does; the feature table (which
    user has which value) is this run's."""
    from models.export import ServingLimits, save_serving_model

    config = CONFIG.with_overrides({"user_features": True})
    rows_a = _feature_rows(USERS_A, TITLES_A, USER_FEATURES_A)
    transform_a = _analyze(rows_a, str(tmp_path / "transform_a"), FEATURE_SPEC)
    old, old_vocabularies = _featured_model(config, transform_a, rows_a)
    assert old_vocabularies[names.OCCUPATION_VOCABULARY] == [b"engineer", b"student", b"artist"]
    for layer in old.user_tower.feature_embeddings:  # distinct rows, as training would leave
        table = layer.embeddings
        layer.embeddings.assign(np.arange(np.prod(table.shape), dtype=np.float32).reshape(
            table.shape) + 100.0)
    save_serving_model(old, transform_a, str(tmp_path / "model_a"),
                       ServingLimits.from_config(config))

    rows_b = _feature_rows(USERS_B, TITLES_B, USER_FEATURES_B)
    transform_b = _analyze(rows_b, str(tmp_path / "transform_b"), FEATURE_SPEC)
    new, new_vocabularies = _featured_model(config, transform_b, rows_b)
    assert new_vocabularies[names.OCCUPATION_VOCABULARY] == [b"student", b"writer", b"engineer"]
    fresh, table = _feature_tables(new), new.user_tower.feature_table.numpy()
    report = warm_start(new, str(tmp_path / "model_a"), new_vocabularies)

    warm, trained = _feature_tables(new), _feature_tables(old)
    for feature, vocabulary in names.USER_FEATURE_VOCABULARIES.items():
        old_values, new_values = old_vocabularies[vocabulary], new_vocabularies[vocabulary]
        assert old_values != new_values  # reordered, some gone, some new
        carried = 0
        for row, value in enumerate(new_values):
            expected = (trained[feature][old_values.index(value)] if value in old_values
                        else fresh[feature][row])
            carried += value in old_values
            np.testing.assert_array_equal(warm[feature][row], expected,
                                          err_msg=f"{feature} {value!r}")
        np.testing.assert_array_equal(warm[feature][len(new_values)],  # unknown ← unknown
                                      trained[feature][len(old_values)])
        assert report.rows[vocabulary] == RowCounts(carried, len(new_values) - carried,
                                                    len(old_values) - carried)
    np.testing.assert_array_equal(warm[names.USER_GENDER_INDEX], trained[names.USER_GENDER_INDEX])
    np.testing.assert_array_equal(new.user_tower.feature_table.numpy(), table)  # this run's
