"""Transform's preprocessing_fn: id vocabularies built by TFT analyzers, applied as indices."""

from typing import Dict, Union

import tensorflow as tf
import tensorflow_transform as tft

from models import features

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


def preprocessing_fn(inputs: Dict[str, Tensor]) -> Dict[str, tf.Tensor]:
    """Maps raw ids to vocabulary indices; OOV ids map to index == vocabulary size.

    Transform analyzes the train and eval splits together, so the movie vocabulary covers the
    whole catalog the data knows: it is the retrieval candidate set. Only ids are analyzed (no
    label statistic), so reading the eval split here leaks nothing about eval labels.
    """
    user_ids = _to_vector(inputs[features.USER_ID], b"")
    movie_titles = _to_vector(inputs[features.MOVIE_TITLE], b"")
    ratings = _to_vector(inputs[features.USER_RATING], 0.0)
    return {
        features.USER_INDEX: tft.compute_and_apply_vocabulary(
            user_ids, num_oov_buckets=features.NUM_OOV_BUCKETS,
            vocab_filename=features.USER_VOCABULARY),
        features.MOVIE_INDEX: tft.compute_and_apply_vocabulary(
            movie_titles, num_oov_buckets=features.NUM_OOV_BUCKETS,
            vocab_filename=features.MOVIE_VOCABULARY),
        features.RATING_LABEL: tf.cast(ratings, tf.float32),
    }
