"""Side features: Transform's indices on real TFT Beam, the towers, the id dropout that trains
the cold-start row, and the exported model answering for a user it does not know."""

import tempfile

import numpy as np
import pytest
import tensorflow as tf

import names
from components.movielens_example_gen.examples import make_example
from models import export, side_features, towers, training
from models.data import drop_user_ids, drop_users_entirely
from models.hparams import ConfigError, TrainingConfig
from models.side_features import SideFeatures
from tests.tft_beam import analyze_and_transform

USER_RAW = (names.USER_GENDER, names.BUCKETIZED_USER_AGE, names.USER_OCCUPATION_TEXT,
            names.USER_ZIP_CODE)


def _spec(with_users: bool):
    """The raw feature spec of ExampleGen's examples (the shapes the curated schema gives)."""
    spec = {
        names.USER_ID: tf.io.FixedLenFeature([1], tf.string),
        names.MOVIE_TITLE: tf.io.FixedLenFeature([1], tf.string),
        names.USER_RATING: tf.io.FixedLenFeature([1], tf.float32),
        names.MOVIE_GENRES: tf.io.VarLenFeature(tf.int64),
    }
    if with_users:
        spec.update({names.USER_GENDER: tf.io.FixedLenFeature([1], tf.int64),
                     names.BUCKETIZED_USER_AGE: tf.io.FixedLenFeature([1], tf.float32),
                     names.USER_OCCUPATION_TEXT: tf.io.FixedLenFeature([1], tf.string),
                     names.USER_ZIP_CODE: tf.io.FixedLenFeature([1], tf.string)})
    return spec


def _row(user, title, rating, genres, gender=None, age=None, occupation=None, zip_code=None):
    row = {names.USER_ID: [user], names.MOVIE_TITLE: [title], names.USER_RATING: [rating],
           names.MOVIE_GENRES: genres}
    if gender is not None:
        row.update({names.USER_GENDER: [gender], names.BUCKETIZED_USER_AGE: [age],
                    names.USER_OCCUPATION_TEXT: [occupation], names.USER_ZIP_CODE: [zip_code]})
    return row


ROWS = [
    _row(b"1", b"Heat (1995)", 4.0, [1, 6, 16], 1, 25.0, b"Engineer", b"94110"),
    _row(b"1", b"Toy Story (1995)", 5.0, [3, 4, 5], 1, 25.0, b"Engineer", b"94110"),
    _row(b"2", b"Heat (1995)", 2.0, [1, 6, 16], 0, 18.0, b"student", b"10001"),
    _row(b"3", b"Toy Story (1995)", 3.0, [3, 4, 5], 0, 56.0, b"writer", b"T8H1N"),
    _row(b"3", b"Alien (1979)", 5.0, [1, 11, 15, 16], 0, 56.0, b"writer", b"T8H1N"),
]


def _transform(rows, with_users=True):
    return analyze_and_transform(rows, _spec(with_users))


@pytest.fixture(scope="module")
def transformed():
    return _transform(ROWS)


def test_transform_writes_genre_bits_and_user_feature_indices(transformed):
    rows, output = transformed
    assert [int(row[names.MOVIE_GENRE_MASK]) for row in rows[:2]] == [
        (1 << 1) | (1 << 6) | (1 << 16), (1 << 3) | (1 << 4) | (1 << 5)]
    occupations = output.vocabulary_by_name(names.OCCUPATION_VOCABULARY)
    zips = output.vocabulary_by_name(names.ZIP_PREFIX_VOCABULARY)
    ages = output.vocabulary_by_name(names.AGE_VOCABULARY)
    assert sorted(occupations) == [b"engineer", b"student", b"writer"]  # case folded
    assert sorted(zips) == [b"10", b"94", b"T8"]
    assert sorted(ages) == [b"18", b"25", b"56"]
    first = rows[0]
    assert occupations[first[names.USER_OCCUPATION_INDEX]] == b"engineer"
    assert zips[first[names.USER_ZIP_INDEX]] == b"94"
    assert ages[first[names.USER_AGE_INDEX]] == b"25"
    assert [int(row[names.USER_GENDER_INDEX]) for row in rows] == [1, 1, 0, 0, 0]

    # Unseen values map to each vocabulary's OOV index, a gender other than 0/1 to unknown.
    layer = output.transform_features_layer()
    raw = {names.USER_ID: tf.constant([[b"9"]]), names.MOVIE_TITLE: tf.constant([[b"x"]]),
           names.USER_RATING: tf.constant([[1.0]]),
           names.MOVIE_GENRES: tf.SparseTensor([[0, 0]], tf.constant([0], tf.int64), [1, 1]),
           names.USER_GENDER: tf.constant([[-1]], tf.int64),
           names.BUCKETIZED_USER_AGE: tf.constant([[99.0]]),
           names.USER_OCCUPATION_TEXT: tf.constant([[b"astronaut"]]),
           names.USER_ZIP_CODE: tf.constant([[b""]])}
    out = layer(raw)
    assert int(out[names.USER_GENDER_INDEX][0]) == names.NUM_GENDERS
    assert int(out[names.USER_OCCUPATION_INDEX][0]) == len(occupations)
    assert int(out[names.USER_AGE_INDEX][0]) == len(ages)
    assert int(out[names.USER_ZIP_INDEX][0]) == len(zips)
    assert int(out[names.MOVIE_GENRE_MASK][0]) == 1  # genre 0, "unknown"


def test_a_source_without_a_user_file_gets_no_user_features_and_the_config_says_so():
    rows = [{k: v for k, v in row.items() if k not in USER_RAW} for row in ROWS]
    out_rows, output = _transform(rows, with_users=False)
    assert not any(name in out_rows[0] for name in names.USER_FEATURE_INDICES)
    assert names.MOVIE_GENRE_MASK in out_rows[0]
    columns = {name: tf.constant([row[name] for row in out_rows])
               for name in (names.USER_INDEX, names.MOVIE_INDEX, names.MOVIE_GENRE_MASK)}
    side = side_features.from_transform(output, [columns], 3, 3)
    assert side.user_features is None and side.movie_genres is not None
    with pytest.raises(ConfigError, match="user_features needs the user side features"):
        side_features.check_available(TrainingConfig(user_features=True), side)
    side_features.check_available(TrainingConfig(movie_genres=True), side)


def _columns(rows):
    return {name: tf.constant([row[name] for row in rows]) for name in rows[0]}


def _sizes_and_tables(transformed):
    """(num_users, num_movies, the side features) of the transformed rows, as run_fn builds
    them."""
    rows, output = transformed
    num_users = output.vocabulary_size_by_name(names.USER_VOCABULARY)
    num_movies = output.vocabulary_size_by_name(names.MOVIE_VOCABULARY)
    return num_users, num_movies, side_features.from_transform(output, [_columns(rows)],
                                                              num_users, num_movies)


def test_the_tables_hold_each_ids_features_and_unknown_for_the_oov_row(transformed):
    rows, _ = transformed
    num_users, num_movies, side = _sizes_and_tables(transformed)
    assert side.user_features.shape == (num_users + 1, len(names.USER_FEATURE_INDICES))
    for row in rows:
        assert side.user_features[row[names.USER_INDEX]].tolist() == [
            int(row[name]) for name in names.USER_FEATURE_INDICES]
        assert side.movie_genres[row[names.MOVIE_INDEX]] == row[names.MOVIE_GENRE_MASK]
    unknown = [size - 1 for size in side.user_feature_sizes]
    assert side.user_features[num_users].tolist() == unknown
    assert side.movie_genres[num_movies] == 0


def _tiny_side(num_users=4, num_movies=5):
    rng = np.random.default_rng(0)
    sizes = (3, 4, 5, 6)
    table = np.stack([rng.integers(0, size - 1, num_users + 1) for size in sizes], axis=1)
    table[num_users] = [size - 1 for size in sizes]
    genres = rng.integers(1, 1 << names.NUM_GENRES, num_movies + 1)
    genres[num_movies] = 0
    return SideFeatures(user_features=table, user_feature_sizes=sizes, movie_genres=genres)


def test_the_user_tower_uses_given_features_and_the_table_for_those_not_given():
    side = _tiny_side()
    # Seeded: the last check compares two differences of float sums to 1e-6, which an
    # unseeded draw with an element near 0 failed about once in three runs alone.
    tf.keras.utils.set_random_seed(0)
    tower = towers.UserTower(4, 8, side.user_features, side.user_feature_sizes)
    users = tf.constant([0, 1, 4], tf.int64)  # 4: the OOV user
    unknown = {name: tf.fill([3], tf.constant(size - 1, tf.int64))
               for name, size in zip(names.USER_FEATURE_INDICES, side.user_feature_sizes)}
    by_index = tower(users).numpy()
    # Every feature sent as unknown: the table's, so the same as by index.
    np.testing.assert_allclose(tower({names.USER_INDEX: users, **unknown}).numpy(), by_index)
    # An OOV user with features differs from the OOV row alone; known users keep theirs.
    given = {name: tf.constant(side.user_features[[0, 1, 0], column])
             for column, name in enumerate(names.USER_FEATURE_INDICES)}
    with_features = tower({names.USER_INDEX: users, **given}).numpy()
    np.testing.assert_allclose(with_features[:2], by_index[:2])
    assert not np.allclose(with_features[2], by_index[2])
    np.testing.assert_allclose(with_features[2] - tower.id_embedding(users[2:]).numpy()[0],
                               with_features[0] - tower.id_embedding(users[:1]).numpy()[0],
                               rtol=1e-6)


@pytest.mark.parametrize("with_genres, with_tokens", [(True, False), (False, True), (True, True)])
def test_the_movie_tower_adds_the_means_of_its_genres_and_title_tokens(with_genres, with_tokens):
    genres = np.array([(1 << 2) | (1 << 5), 1 << 7, 0], dtype=np.int64)  # 2 titles + OOV
    tokens = np.array([[1, 2, 0], [3, 0, 0], [0, 0, 0]], np.int64)  # 0: padding
    tower = towers.MovieTower(2, 4, genres if with_genres else None,
                              tokens if with_tokens else None, 4)
    out = tower(tf.constant([0, 1, 2], tf.int64)).numpy()
    expected = tower.id_embedding.embeddings.numpy().copy()
    if with_genres:
        table = tower.genre_embedding.embeddings.numpy()
        expected[0] += (table[2] + table[5]) / 2
        expected[1] += table[7]
    if with_tokens:
        table = tower.token_embedding.embeddings.numpy()
        expected[0] += (table[1] + table[2]) / 2
        expected[1] += table[3]
    np.testing.assert_allclose(out, expected, rtol=1e-6)  # the OOV row: the id alone


def _training_columns(side, num_users=4, num_movies=5, size=400):
    rng = np.random.default_rng(1)
    users = rng.integers(0, num_users, size)
    columns = {
        names.USER_INDEX: tf.constant(users, tf.int64),
        names.MOVIE_INDEX: tf.constant(rng.integers(0, num_movies, size), tf.int64),
        names.RATING_LABEL: tf.constant(rng.integers(1, 6, size), tf.float32),
        names.RATING_MASK: tf.ones([size]),
    }
    for column, name in enumerate(names.USER_FEATURE_INDICES):
        columns[name] = tf.constant(side.user_features[users, column])
    return columns


def _config(**overrides):
    return TrainingConfig(embedding_dim=8, rating_layers=(8,), top_ks=(1,), epochs=2,
                          train_batch_size=64, recall_ks=(), jit_compile=False, **overrides)


def test_user_id_dropout_replaces_a_seeded_share_of_user_ids_with_the_oov_id():
    side = _tiny_side()
    columns = _training_columns(side)
    dropped = drop_user_ids(columns, 0.25, seed=7, num_users=4)
    is_oov = dropped[names.USER_INDEX].numpy() == 4
    assert 0.15 < is_oov.mean() < 0.35
    np.testing.assert_array_equal(  # the features stay: they train the cold-start path
        dropped[names.USER_OCCUPATION_INDEX].numpy(), columns[names.USER_OCCUPATION_INDEX])
    again = drop_user_ids(columns, 0.25, seed=7, num_users=4)
    np.testing.assert_array_equal(again[names.USER_INDEX], dropped[names.USER_INDEX])
    assert drop_user_ids(columns, 0.0, 7, 4) is columns


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_only_id_dropout_trains_the_oov_row_and_side_features_train(dropout):
    side = _tiny_side()
    config = _config(user_features=True, movie_genres=True, user_id_dropout=dropout)
    untrained = training.build_model(config, 4, 5, side=side)  # the same seeded start
    trained = training.fit(config, _training_columns(side), 4, 5, verbose=0, side=side).model
    before = towers.id_embedding(untrained.user_tower).numpy()
    after = towers.id_embedding(trained.user_tower).numpy()
    assert np.allclose(before[4], after[4]) == (dropout == 0.0)  # the OOV row
    assert not np.allclose(before[:4], after[:4])  # the known users'
    assert not np.allclose(untrained.movie_tower.genre_embedding.embeddings.numpy(),
                           trained.movie_tower.genre_embedding.embeddings.numpy())
    for old, new in zip(untrained.user_tower.feature_embeddings,
                        trained.user_tower.feature_embeddings):
        assert not np.allclose(old.embeddings.numpy(), new.embeddings.numpy())


def test_side_features_need_their_tables():
    with pytest.raises(ConfigError, match="movie_genres needs"):
        training.build_model(_config(movie_genres=True), 4, 5)
    with pytest.raises(ConfigError, match="user_features needs"):
        training.build_model(_config(user_features=True), 4, 5,
                             side=SideFeatures(movie_genres=np.zeros(6, np.int64)))


def test_the_exported_model_serves_an_unknown_user_from_the_features_sent(transformed):
    _, output = transformed
    num_users, num_movies, side = _sizes_and_tables(transformed)
    config = _config(user_features=True, movie_genres=True, title_tokens=True,
                     rating_factors=2, serving_max_k=2)  # every table and head part exports
    model = training.build_model(config, num_users, num_movies, side=side)
    assert model.movie_tower.use_tokens and side.title_token_count > 1
    export_dir = tempfile.mkdtemp()
    export.save_serving_model(model, output, export_dir, export.ServingLimits(2, 16, 4, 3))
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures[names.SERVING_SIGNATURE]

    def scores(user, **features):
        example = make_example(user, "Heat (1995)", 4.0, 0, "1", [1], **features)
        return serve(examples=tf.constant([example.SerializeToString()]))[
            names.RETRIEVAL_OUTPUT].numpy()[0]

    recommend = loaded.signatures[names.RECOMMEND_SIGNATURE]
    known = recommend(user_id=tf.constant(["1"]), k=tf.constant(2))
    known_scores = scores("1")  # a known user sent without features: the table's
    np.testing.assert_allclose(np.sort(known_scores)[::-1][:2],
                               known[names.SCORES_OUTPUT].numpy()[0], rtol=1e-5)
    like_user_1 = dict(gender=1, bucketized_age=25.0, occupation="Engineer", zip_code="94110")
    np.testing.assert_allclose(scores("1", **like_user_1), known_scores, rtol=1e-5)
    stranger = scores("nobody")
    stranger_like_1 = scores("nobody", **like_user_1)
    assert not np.allclose(stranger, stranger_like_1)
    # Other features, other recommendations.
    stranger_like_3 = scores("nobody", gender=0, bucketized_age=56.0, occupation="writer",
                             zip_code="T8H1N")
    assert not np.allclose(stranger_like_1, stranger_like_3)


def test_title_tokens_keep_the_words_of_two_or_more_titles_in_sorted_order():
    titles = [b"Star Wars (1977)", b"Return of the Jedi (1983)", b"The Empire Strikes Back (1980)",
              b"Star Trek: The Wrath of Khan (1982)", b"Solo (1977)"]
    table, count = side_features.title_token_table(titles)
    kept = ["1977", "of", "star", "the"]  # in 2+ titles; "wars", "jedi", ... in one only
    assert count == len(kept) + 1
    assert table.shape == (len(titles) + 1, 3)

    def words(row):
        return sorted(kept[i - 1] for i in table[row] if i)

    assert words(0) == ["1977", "star"]
    assert words(1) == ["of", "the"]
    assert words(3) == ["of", "star", "the"]
    assert words(4) == ["1977"]
    assert not table[len(titles)].any()  # the OOV row


def test_title_tokens_refuse_a_warm_start():
    with pytest.raises(ValueError, match="title_tokens cannot warm-start"):
        TrainingConfig(title_tokens=True, warm_start=True)


@pytest.mark.parametrize("feature_dropout", [0.0, 0.3])
def test_only_feature_dropout_trains_the_unknown_feature_rows(feature_dropout):
    """A user sent with nothing (OOV id, every feature unknown) gets trained rows only when
    some examples train as one: with id dropout alone the dropped examples keep features."""
    side = _tiny_side()
    columns = _training_columns(side)
    unknown = {name: size - 1 for name, size in
               zip(names.USER_FEATURE_INDICES, side.user_feature_sizes)}
    dropped = drop_users_entirely(columns, 0.3, seed=7, num_users=4, unknown_features=unknown)
    nothing = dropped[names.USER_INDEX].numpy() == 4
    assert 0.2 < nothing.mean() < 0.4
    for name, index in unknown.items():  # exactly those rows lost every feature
        assert np.all((dropped[name].numpy() == index) == nothing)
    np.testing.assert_array_equal(dropped[names.MOVIE_INDEX], columns[names.MOVIE_INDEX])

    config = _config(user_features=True, user_id_dropout=0.3,
                     user_feature_dropout=feature_dropout)
    untrained = training.build_model(config, 4, 5, side=side)
    trained = training.fit(config, columns, 4, 5, verbose=0, side=side).model
    for name, old, new in zip(names.USER_FEATURE_INDICES, untrained.user_tower.feature_embeddings,
                              trained.user_tower.feature_embeddings):
        unknown_row_moved = not np.allclose(old.embeddings.numpy()[unknown[name]],
                                            new.embeddings.numpy()[unknown[name]])
        assert unknown_row_moved == (feature_dropout > 0), name


def test_feature_dropout_needs_user_features():
    with pytest.raises(ConfigError, match="user_feature_dropout needs user_features"):
        _config(user_feature_dropout=0.1)
