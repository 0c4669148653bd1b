"""The one place that names every feature, transformed feature, vocabulary and output.

ExampleGen writes the raw names, Transform reads them and writes the transformed names, the
Trainer reads those, the exported signatures and the Evaluator name their outputs here.
"""

from typing import Dict

import tensorflow as tf

# Raw features written by MovieLens ExampleGen (same names and meanings as TFDS's
# `movielens/*-ratings`).
USER_ID = "user_id"  # string, e.g. "42"
MOVIE_TITLE = "movie_title"  # string, e.g. "Dances with Wolves (1990)"
USER_RATING = "user_rating"  # float, 1..5 stars
TIMESTAMP = "timestamp"  # int, seconds since the epoch
MOVIE_ID = "movie_id"  # string
MOVIE_GENRES = "movie_genres"  # int list, TFDS genre indices (0 = unknown ... 18 = Western)
USER_GENDER = "user_gender"  # int, 1 = male, 0 = female (TFDS: bool)
BUCKETIZED_USER_AGE = "bucketized_user_age"  # float, lower bound of the ML-1M age bucket
USER_OCCUPATION_TEXT = "user_occupation_text"  # string
USER_ZIP_CODE = "user_zip_code"  # string

RAW_FEATURE_SPEC: Dict[str, tf.io.FixedLenFeature] = {
    USER_ID: tf.io.FixedLenFeature([], tf.string),
    MOVIE_TITLE: tf.io.FixedLenFeature([], tf.string),
    USER_RATING: tf.io.FixedLenFeature([], tf.float32),
    TIMESTAMP: tf.io.FixedLenFeature([], tf.int64),
    MOVIE_ID: tf.io.FixedLenFeature([], tf.string),
    MOVIE_GENRES: tf.io.VarLenFeature(tf.int64),
    USER_GENDER: tf.io.FixedLenFeature([], tf.int64),
    BUCKETIZED_USER_AGE: tf.io.FixedLenFeature([], tf.float32),
    USER_OCCUPATION_TEXT: tf.io.FixedLenFeature([], tf.string),
    USER_ZIP_CODE: tf.io.FixedLenFeature([], tf.string),
}

# Transformed features (outputs of preprocessing_fn).
USER_INDEX = "user_index"  # int64 [B], 0..num_users-1, num_users = OOV
MOVIE_INDEX = "movie_index"  # int64 [B], 0..num_movies-1, num_movies = OOV
RATING_LABEL = "rating_label"  # float32 [B], 0 where the rating is missing
RATING_MASK = "rating_mask"  # float32 [B]: 1 = rated, 0 = unrated (no rating loss, retrieval)

# TFT vocabulary names (files in the transform graph's assets).
USER_VOCABULARY = "user_id_vocabulary"
MOVIE_VOCABULARY = "movie_title_vocabulary"
NUM_OOV_BUCKETS = 1  # TFT puts OOV buckets after the vocabulary: index == vocabulary size.

# Output keys of the `serving_default` signature (TFMA's output_names).
RATING_OUTPUT = "rating"  # float32 [B, 1]
RETRIEVAL_OUTPUT = "retrieval"  # float32 [B, num_movies]: one score per catalog title

# Signature names.
SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
PREDICT_SIGNATURE = "predict"
RECOMMEND_SIGNATURE = "recommend"
RECOMMEND_EXCLUDING_SIGNATURE = "recommend_excluding"
SIMILAR_SIGNATURE = "similar_movies"

# Inputs and outputs of the raw-id signatures (TF Serving request/response keys).
K_INPUT = "k"  # int32 scalar
EXCLUDE_INPUT = "exclude_titles"  # string [B, N], "" = padding
PREDICTED_RATING = "rating"  # float32 [B]
USER_EMBEDDING = "user_embedding"  # float32 [B, dim]
MOVIE_EMBEDDING = "movie_embedding"  # float32 [B, dim]
TITLES_OUTPUT = "titles"  # string [B, k]
SCORES_OUTPUT = "scores"  # float32 [B, k]
USER_KNOWN = "user_known"  # bool [B]: False = not in the vocabulary (OOV embedding used)
MOVIE_KNOWN = "movie_known"  # bool [B]

# Files the Trainer writes next to its TensorBoard logs (the ModelRun artifact).
TRAINING_CONFIG_FILE = "training_config.json"  # the config that trained, overrides included
TRAINING_LOG_FILE = "training_log.json"  # epochs, early stopping, validation history
KERAS_METRICS_FILE = "keras_eval_metrics.json"  # Keras's own metrics on the eval split
RECALL_METRICS_FILE = "user_recall_metrics.json"  # per-user Recall@K, rated titles removed
