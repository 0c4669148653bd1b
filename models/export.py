"""The exported SavedModel: Transform graph + towers + rating head, callable by TF Serving.

Only the layers that serve are saved (not the TFRS tasks and their metrics), so the model
loads in a process that imports nothing but TensorFlow. Signatures:
- `serving_default`: serialized tf.Example → `rating` [B, 1] and `retrieval` [B, catalog]
  (column j = the j-th title of the movie vocabulary; the label TFMA compares is `movie_index`).
- `transform_features`: serialized tf.Example → the transformed features (TFMA uses it to get
  `movie_index` labels).
To add a signature, add a tf.function to `ServingModule` and name it in `signatures()`.
"""

from typing import Dict

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models import features
from models.model import MovieLensModel

# Inputs a serving request must carry; every other raw feature gets a default if absent.
REQUIRED_SERVING_FEATURES = (features.USER_ID, features.MOVIE_TITLE)


def _lenient_spec(raw_spec: Dict[str, object]) -> Dict[str, object]:
    """The raw spec with defaults for fixed-length features a serving request may omit."""
    spec = {}
    for name, feature in raw_spec.items():
        if isinstance(feature, tf.io.FixedLenFeature) and name not in REQUIRED_SERVING_FEATURES:
            zero = b"" if feature.dtype == tf.string else feature.dtype.as_numpy_dtype(0)
            default = np.full(feature.shape, zero, dtype=object).tolist()
            feature = tf.io.FixedLenFeature(feature.shape, feature.dtype, default_value=default)
        spec[name] = feature
    return spec


class ServingModule(tf.Module):
    """What TF Serving loads: the Transform layer in front of the trained towers."""

    def __init__(self, model: MovieLensModel, tf_transform_output: tft.TFTransformOutput) -> None:
        super().__init__()
        self.user_tower = model.user_tower
        self.movie_tower = model.movie_tower
        self.rating_head = model.rating_head
        self.num_movies = model.num_movies
        self.tft_layer = tf_transform_output.transform_features_layer()
        raw_spec = tf_transform_output.raw_feature_spec()
        self._raw_spec = raw_spec
        self._serving_spec = _lenient_spec(raw_spec)

    def _scores(self, transformed: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        user = self.user_tower(transformed[features.USER_INDEX])
        movie = self.movie_tower(transformed[features.MOVIE_INDEX])
        catalog = self.movie_tower(tf.range(self.num_movies, dtype=tf.int64))
        return {
            features.RATING_OUTPUT: self.rating_head(tf.concat([user, movie], axis=1)),
            features.RETRIEVAL_OUTPUT: tf.linalg.matmul(user, catalog, transpose_b=True),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
        raw = tf.io.parse_example(serialized, self._serving_spec)
        return self._scores(self.tft_layer(raw))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_examples(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
        raw = tf.io.parse_example(serialized, self._raw_spec)
        return self.tft_layer(raw)

    def signatures(self) -> Dict[str, tf.types.experimental.ConcreteFunction]:
        return {
            features.SERVING_SIGNATURE: self.serve_examples.get_concrete_function(),
            features.TRANSFORM_SIGNATURE: self.transform_examples.get_concrete_function(),
        }


def save_serving_model(model: MovieLensModel, tf_transform_output: tft.TFTransformOutput,
                       export_dir: str) -> None:
    module = ServingModule(model, tf_transform_output)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
