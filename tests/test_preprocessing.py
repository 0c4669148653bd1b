"""preprocessing_fn on real TFT Beam: vocabularies over every title, OOV after the vocabulary."""

import tensorflow as tf

import names
from tests.tft_beam import analyze_and_transform

RAW_SPEC = {
    names.USER_ID: tf.io.FixedLenFeature([], tf.string),
    names.MOVIE_TITLE: tf.io.FixedLenFeature([], tf.string),
    names.USER_RATING: tf.io.FixedLenFeature([], tf.float32),
}


def _analyze_and_transform(rows):
    return analyze_and_transform(rows, RAW_SPEC)


def test_vocabularies_cover_every_title_and_unknown_ids_go_to_the_oov_bucket():
    rows = [
        {names.USER_ID: b"1", names.MOVIE_TITLE: "Misérables, Les (1995)".encode(),
         names.USER_RATING: 4.0},
        {names.USER_ID: b"1", names.MOVIE_TITLE: b"Heat (1995)", names.USER_RATING: 5.0},
        {names.USER_ID: b"2", names.MOVIE_TITLE: b"Heat (1995)", names.USER_RATING: 2.0},
    ]
    transformed, output = _analyze_and_transform(rows)

    movies = [t.decode() for t in output.vocabulary_by_name(names.MOVIE_VOCABULARY)]
    users = output.vocabulary_by_name(names.USER_VOCABULARY)
    assert sorted(movies) == ["Heat (1995)", "Misérables, Les (1995)"]
    assert sorted(users) == [b"1", b"2"]
    assert movies[0] == "Heat (1995)"  # most frequent first
    for row, out in zip(rows, transformed):
        assert movies[out[names.MOVIE_INDEX]] == row[names.MOVIE_TITLE].decode()
        assert out[names.RATING_LABEL] == row[names.USER_RATING]

    layer = output.transform_features_layer()
    result = layer({names.USER_ID: tf.constant([b"1", b"nobody"]),
                    names.MOVIE_TITLE: tf.constant([b"Heat (1995)", b"Unknown (2099)"]),
                    names.USER_RATING: tf.constant([3.0, 3.0])})
    assert result[names.MOVIE_INDEX].numpy().tolist() == [0, len(movies)]  # OOV = size
    assert result[names.USER_INDEX].numpy()[1] == len(users)
