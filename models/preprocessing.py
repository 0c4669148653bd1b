"""Transform's preprocessing_fn: id vocabularies built by TFT analyzers, applied as indices."""

from typing import Dict, Tuple, Union

import tensorflow as tf
import tensorflow_transform as tft

import names
from models import towers

Tensor = Union[tf.Tensor, tf.SparseTensor, tf.RaggedTensor]


def _to_vector(value: Tensor, default) -> tf.Tensor:
    """[B] dense from a [B], [B, 1] or sparse single-valued feature (schemas differ by source)."""
    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(value, default_value=default)
    elif isinstance(value, tf.RaggedTensor):
        value = value.to_tensor(default_value=default)
    if value.shape.rank is not None and value.shape.rank > 1:
        value = value[:, 0]
    return value


def _anonymous_lookup(ids: tf.Tensor, vocabulary_file: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """TFT's default lookup, with an anonymous table.

    A named table's shared_name embeds the vocabulary's path at analysis time (the Transform
    temp folder under the pipeline root), which would end up inside the exported SavedModel;
    an anonymous one has no name. Same indices: the file's line number, OOV after the last.
    """
    initializer = tf.lookup.TextFileInitializer(
        vocabulary_file, key_dtype=tf.string, key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        value_dtype=tf.int64, value_index=tf.lookup.TextFileIndex.LINE_NUMBER)
    table = tf.lookup.StaticVocabularyTable(
        initializer, num_oov_buckets=names.NUM_OOV_BUCKETS, experimental_is_anonymous=True)
    return table.lookup(ids), table.size()


def _vocabulary_index(ids: tf.Tensor, vocabulary_name: str) -> tf.Tensor:
    vocabulary = tft.vocabulary(ids, vocab_filename=vocabulary_name)
    return tft.apply_vocabulary(ids, vocabulary, num_oov_buckets=names.NUM_OOV_BUCKETS,
                                lookup_fn=_anonymous_lookup)


def rating_and_mask(value: Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """([B] label, [B] mask): mask 0 (and label 0) where the rating is absent or NaN.

    A missing value reaches preprocessing_fn as a hole in a sparse tensor (SchemaGen's
    schema then makes the feature optional) or as NaN in a dense one.
    """
    if isinstance(value, tf.SparseTensor):
        present = _to_vector(tf.SparseTensor(value.indices, tf.ones_like(value.values, tf.bool),
                                             value.dense_shape), False)
    elif isinstance(value, tf.RaggedTensor):
        present = _to_vector(tf.ones_like(value, tf.bool), False)
    else:
        present = tf.ones_like(_to_vector(value, 0.0), tf.bool)
    ratings = tf.cast(_to_vector(value, 0.0), tf.float32)
    present = tf.logical_and(present, tf.math.is_finite(ratings))
    return tf.where(present, ratings, 0.0), tf.cast(present, tf.float32)


def genre_mask(genres: Tensor) -> tf.Tensor:
    """[B] int64: the movie's genres (values 0..NUM_GENRES-1 of a [B, None] list) as bits.

    One scalar per example, so the Trainer's in-memory columns stay one number per feature;
    the movie tower turns it back into a multi-hot vector.
    """
    if isinstance(genres, tf.RaggedTensor):
        genres = genres.to_sparse()
    if not isinstance(genres, tf.SparseTensor):
        genres = tf.sparse.from_dense(genres)  # a dense list: every value is a genre
    genres = tf.sparse.SparseTensor(genres.indices, tf.cast(genres.values, tf.int64),
                                    genres.dense_shape)
    indicator = tf.sparse.to_indicator(genres, vocab_size=names.NUM_GENRES)  # [B, NUM_GENRES]
    return tf.reduce_sum(tf.cast(indicator, tf.int64) * towers.genre_bits(), axis=1)


def time_bin(timestamps: Tensor) -> tf.Tensor:
    """[B] int64: each rating's time bin (names.RATING_TIME_BIN), one of NUM_TIME_BINS equal
    spans between the analyzed data's earliest and latest timestamp.

    Equal spans of time rather than quantiles: a bin is a period (so its bias is a period's),
    and two cheap analyzers (min, max) instead of a quantiles pass over every example. A time
    past the latest (a rating served later) falls in the last bin; no timestamp at all (a
    serving request without one, parsed as -1) is taken to be now, the last bin too.
    """
    seconds = tf.cast(_to_vector(timestamps, -1), tf.int64)
    earliest = tf.cast(tft.min(seconds), tf.float64)
    span = tf.maximum(tf.cast(tft.max(seconds), tf.float64) - earliest, 1.0)
    position = (tf.cast(seconds, tf.float64) - earliest) / span  # 0..1 over the analyzed data
    bins = tf.cast(tf.floor(position * names.NUM_TIME_BINS), tf.int64)
    bins = tf.clip_by_value(bins, 0, names.NOW_TIME_BIN)
    return tf.where(seconds > 0, bins, names.NOW_TIME_BIN)


def user_side_features(inputs: Dict[str, Tensor]) -> Dict[str, tf.Tensor]:
    """The user side features as indices (names.USER_FEATURE_INDICES), or {} for a source
    without a user file. Age buckets, occupations and zip prefixes get TFT vocabularies (the
    OOV index is the vocabulary's size); gender is 0/1, anything else NUM_GENDERS."""
    if names.USER_OCCUPATION_TEXT not in inputs:
        return {}
    gender = tf.cast(_to_vector(inputs[names.USER_GENDER], -1), tf.int64)
    known_gender = tf.logical_and(gender >= 0, gender < names.NUM_GENDERS)
    age = tf.strings.as_string(
        tf.cast(_to_vector(inputs[names.BUCKETIZED_USER_AGE], -1.0), tf.int64))
    occupation = tf.strings.lower(_to_vector(inputs[names.USER_OCCUPATION_TEXT], b""))
    zip_prefix = tf.strings.upper(tf.strings.substr(
        _to_vector(inputs[names.USER_ZIP_CODE], b""), 0, names.ZIP_PREFIX_LENGTH))
    vocabularies = names.USER_FEATURE_VOCABULARIES
    return {
        names.USER_GENDER_INDEX: tf.where(known_gender, gender, names.NUM_GENDERS),
        names.USER_AGE_INDEX: _vocabulary_index(age, vocabularies[names.USER_AGE_INDEX]),
        names.USER_OCCUPATION_INDEX: _vocabulary_index(
            occupation, vocabularies[names.USER_OCCUPATION_INDEX]),
        names.USER_ZIP_INDEX: _vocabulary_index(zip_prefix, vocabularies[names.USER_ZIP_INDEX]),
    }


def preprocessing_fn(inputs: Dict[str, Tensor]) -> Dict[str, tf.Tensor]:
    """Maps raw ids to vocabulary indices; OOV ids map to index == vocabulary size.

    Transform analyzes the train and eval splits together, so the movie vocabulary covers the
    whole catalog the data knows: it is the retrieval candidate set. Only ids and side
    features are analyzed (no label statistic), so reading the eval split here leaks nothing
    about eval labels. The side features are written whatever the training config (the
    Trainer reads the ones its config uses), so one Transform serves every config.
    """
    user_ids = _to_vector(inputs[names.USER_ID], b"")
    movie_titles = _to_vector(inputs[names.MOVIE_TITLE], b"")
    ratings, mask = rating_and_mask(inputs[names.USER_RATING])
    outputs = {
        names.USER_INDEX: _vocabulary_index(user_ids, names.USER_VOCABULARY),
        names.MOVIE_INDEX: _vocabulary_index(movie_titles, names.MOVIE_VOCABULARY),
        names.RATING_LABEL: ratings,
        names.RATING_MASK: mask,
    }
    if names.MOVIE_GENRES in inputs:
        outputs[names.MOVIE_GENRE_MASK] = genre_mask(inputs[names.MOVIE_GENRES])
    if names.TIMESTAMP in inputs:
        outputs[names.RATING_TIME_BIN] = time_bin(inputs[names.TIMESTAMP])
        outputs[names.RATING_TIMESTAMP] = tf.cast(_to_vector(inputs[names.TIMESTAMP], -1),
                                                  tf.int64)
    outputs.update(user_side_features(inputs))
    count_analyzed_examples(user_ids)
    return outputs


def count_analyzed_examples(ids: tf.Tensor) -> None:
    """Has the analysis write how many examples it read, as the frequency of one token in the
    vocabulary file `names.ANALYZED_EXAMPLES_VOCABULARY` (no transformed feature reads it):
    Transform's executor checks it against ExampleGen's record counts."""
    tft.vocabulary(tf.fill(tf.shape(ids), names.ANALYZED_EXAMPLES_TOKEN),
                   vocab_filename=names.ANALYZED_EXAMPLES_VOCABULARY, store_frequency=True)
