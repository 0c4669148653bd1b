"""The user and movie towers: an id's embedding, plus its side features' when the config asks.

Without side features a tower is a plain embedding table, as in the TFRS tutorial (and
`--preset seed` builds exactly that). With them, a tower adds to the id's embedding one
embedding per feature (the genres' and the title tokens' means for a title), so its output
is still one `embedding_dim` vector and retrieval, the rating head and serving do not change.

Each tower holds its ids' features in a table (models/side_features.py), so it can be
called with vocabulary indices alone, as serving and the catalog call it. The user tower
can also be given the features explicitly: training does (an example whose user id was
dropped keeps its features), and so does a cold start, a user the vocabulary does not know.
"""

from typing import Dict, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

import names

UserInput = Union[tf.Tensor, Dict[str, tf.Tensor]]


def _table(layer: tf.keras.layers.Layer, name: str, values: np.ndarray) -> tf.Variable:
    """A non-trainable copy of `values` (a constant initializer draws no random numbers, so
    the trainable layers start from the same weights as without it)."""
    return layer.add_weight(name=name, shape=values.shape, dtype=tf.int64, trainable=False,
                            initializer=tf.constant_initializer(values))


def genre_bits() -> tf.Tensor:
    """[NUM_GENRES] int64: 2**g, the bit of genre g in a title's genre mask (Transform writes
    the masks with it, the movie tower reads them back)."""
    return tf.bitwise.left_shift(tf.ones([names.NUM_GENRES], tf.int64),
                                 tf.range(names.NUM_GENRES, dtype=tf.int64))


class UserTower(tf.keras.layers.Layer):
    """id embedding + one embedding per user side feature (names.USER_FEATURE_INDICES)."""

    def __init__(self, num_users: int, embedding_dim: int, feature_table: np.ndarray,
                 feature_sizes: Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.id_embedding = tf.keras.layers.Embedding(
            num_users + names.NUM_OOV_BUCKETS, embedding_dim, name="id_embedding")
        self.feature_embeddings = [
            tf.keras.layers.Embedding(size, embedding_dim, name=f"{feature}_embedding")
            for feature, size in zip(names.USER_FEATURE_INDICES, feature_sizes)]
        self.feature_table = _table(self, "feature_table", feature_table)
        self.unknown_indices = [size - names.NUM_OOV_BUCKETS for size in feature_sizes]

    def call(self, inputs: UserInput) -> tf.Tensor:
        """`inputs`: user indices [B] (features from the table), or a dict of the indices and
        feature columns (names.USER_FEATURE_INDICES): a feature given as unknown (its last
        index: absent from a request, or a value the vocabulary lacks) is the table's, any
        other value is used as given. So a known user sent without features gets what
        training gave them, and an unknown user's features are not lost to the OOV row."""
        users = inputs[names.USER_INDEX] if isinstance(inputs, dict) else inputs
        row = tf.gather(self.feature_table, users)
        features = [row[:, i] for i in range(len(names.USER_FEATURE_INDICES))]
        if isinstance(inputs, dict):
            features = [tf.where(inputs[name] < unknown, tf.cast(inputs[name], tf.int64), table)
                        for name, unknown, table in zip(names.USER_FEATURE_INDICES,
                                                        self.unknown_indices, features)]
        embedding = self.id_embedding(users)
        for table, values in zip(self.feature_embeddings, features):
            embedding += table(values)
        return embedding


class MovieTower(tf.keras.layers.Layer):
    """id embedding + the mean of the title's genres' embeddings (none: nothing added) + the
    mean of its title tokens' embeddings (each with its table; None: not used)."""

    def __init__(self, num_movies: int, embedding_dim: int, genre_table: Optional[np.ndarray],
                 token_table: Optional[np.ndarray] = None, num_tokens: int = 0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.id_embedding = tf.keras.layers.Embedding(
            num_movies + names.NUM_OOV_BUCKETS, embedding_dim, name="id_embedding")
        self.use_genres = genre_table is not None
        if self.use_genres:
            self.genre_embedding = tf.keras.layers.Embedding(
                names.NUM_GENRES, embedding_dim, name="genre_embedding")
            self.genre_table = _table(self, "genre_table", genre_table)
            self._bits = genre_bits()
        self.use_tokens = token_table is not None
        if self.use_tokens:  # index 0 pads a row; tokens are 1..num_tokens - 1
            self.token_embedding = tf.keras.layers.Embedding(
                num_tokens, embedding_dim, name="token_embedding")
            self.token_table = _table(self, "token_table", token_table)

    def call(self, movies: tf.Tensor) -> tf.Tensor:
        # Genres before the id: the layers build at their first call, drawing their initial
        # weights in that order, which the seeded figures of the genre configs depend on.
        genre_part = self._genres(movies) if self.use_genres else None
        embedding = self.id_embedding(movies)
        if genre_part is not None:
            embedding += genre_part
        if self.use_tokens:
            tokens = tf.gather(self.token_table, movies)  # [B, max tokens], 0 = padding
            present = tf.cast(tokens > 0, tf.float32)[:, :, None]
            counts = tf.maximum(tf.reduce_sum(present, axis=1), 1.0)
            embedding += tf.reduce_sum(self.token_embedding(tokens) * present, axis=1) / counts
        return embedding

    def _genres(self, movies: tf.Tensor) -> tf.Tensor:
        """[B, dim]: the mean of each title's genres' embeddings (0 for none)."""
        genre_bits = tf.gather(self.genre_table, movies)
        genres = tf.cast(tf.bitwise.bitwise_and(genre_bits[:, None], self._bits) != 0,
                         tf.float32)  # [B, NUM_GENRES] multi-hot
        counts = tf.maximum(tf.reduce_sum(genres, axis=1, keepdims=True), 1.0)
        every_genre = self.genre_embedding(tf.range(names.NUM_GENRES))  # [NUM_GENRES, dim]
        return tf.linalg.matmul(genres, every_genre) / counts


class TimedUserTower(tf.keras.layers.Layer):
    """A user tower plus an embedding of the rating's time bin (names.RATING_TIME_BIN): the
    query's context, what people watched then. Called without a bin (the id signatures, the
    per-user metrics, a tf.Example without a timestamp), the bin is now, the last one."""

    def __init__(self, tower: tf.keras.layers.Layer, embedding_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tower = tower
        self.time_embedding = tf.keras.layers.Embedding(names.NUM_TIME_BINS, embedding_dim,
                                                        name="time_embedding")

    def call(self, inputs: UserInput) -> tf.Tensor:
        """`inputs`: what the inner tower takes, or a dict of it and the time bins."""
        bins = None
        if isinstance(inputs, dict):
            bins = inputs.get(names.RATING_TIME_BIN)
            inputs = {name: value for name, value in inputs.items()
                      if name != names.RATING_TIME_BIN}
            if not isinstance(self.tower, UserTower):
                inputs = inputs[names.USER_INDEX]
        # The inner tower first: its layers build (draw their initial weights) as without time.
        embedding = self.tower(inputs)
        return embedding + self.time_embedding(time_bins_or_now(bins, embedding))


# The keys a HistoryUserTower reads from its input dict (the inner tower gets the others).
_HISTORY_KEYS = (names.USER_HISTORY, names.HISTORY_USER_INDEX, names.HISTORY_SHARE,
                 names.MOVIE_INDEX)


class HistoryUserTower(tf.keras.layers.Layer):
    """A user tower plus the mean of a history embedding over the titles the user rated: the
    fold-in (YouTube DNN's watch vector, SVD++'s implicit factors, as the query): a user the
    model never trained still gets a query from the titles they rated so far.

    It holds each trained user's history (their latest titles, at most `history_length`, in a
    seeded random order), so a user index alone is served with that user's; a request can
    bring a history instead (names.USER_HISTORY, e.g. the unknown user's). In training, each
    example hides its own title from the history it reads and keeps a share of the rest
    (names.HISTORY_SHARE: every history length trains), an id-dropped example at most
    names.FOLD_IN_RATINGS titles, what a new user brings.
    """

    def __init__(self, tower: tf.keras.layers.Layer, num_movies: int, embedding_dim: int,
                 histories: np.ndarray, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tower = tower
        self.num_movies = num_movies  # the padding index (the OOV title)
        self.history_embedding = tf.keras.layers.Embedding(
            num_movies + names.NUM_OOV_BUCKETS, embedding_dim, name="history_embedding")
        self.histories = _table(self, "user_histories", histories)
        self.unknown_user = histories.shape[0] - names.NUM_OOV_BUCKETS

    def call(self, inputs: UserInput) -> tf.Tensor:
        """`inputs`: what the inner tower takes, or a dict of it and names.USER_HISTORY [B, H]
        (the titles to pool instead of the table's), or, in training, the keys that pick and
        thin the table's history (names.HISTORY_USER_INDEX, HISTORY_SHARE, MOVIE_INDEX)."""
        given = inputs if isinstance(inputs, dict) else {names.USER_INDEX: inputs}
        users = given[names.USER_INDEX]
        history = given.get(names.USER_HISTORY)
        if history is None:
            history = tf.gather(self.histories, given.get(names.HISTORY_USER_INDEX, users))
        history = tf.cast(history, tf.int64)
        valid = (history >= 0) & (history < self.num_movies)
        if names.MOVIE_INDEX in given:  # an example's own title is what it predicts
            valid &= history != tf.cast(given[names.MOVIE_INDEX], tf.int64)[:, None]
        if names.HISTORY_SHARE in given:
            valid = self._thinned(valid, given[names.HISTORY_SHARE], users)
        history = tf.where(valid, history, self.num_movies)
        weights = tf.cast(valid, tf.float32)[:, :, None]
        count = tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        pooled = tf.reduce_sum(self.history_embedding(history) * weights, axis=1) / count
        # The inner tower's own keys (user_input adds features and time bins only for a tower
        # that reads them), or the index alone when there are none.
        inner = {name: value for name, value in given.items() if name not in _HISTORY_KEYS}
        return self.tower(inner if set(inner) != {names.USER_INDEX} else users) + pooled

    def _thinned(self, valid: tf.Tensor, share: tf.Tensor, users: tf.Tensor) -> tf.Tensor:
        """`valid` [B, H] keeping each row's first ceil(share × valid titles) valid titles
        (at least one), at most names.FOLD_IN_RATINGS for the unknown user's rows."""
        counts = tf.reduce_sum(tf.cast(valid, tf.float32), axis=1)
        keep = tf.maximum(tf.math.ceil(tf.cast(share, tf.float32) * counts), 1.0)
        keep = tf.where(tf.cast(users, tf.int64) >= self.unknown_user,
                        tf.minimum(keep, float(names.FOLD_IN_RATINGS)), keep)
        position = tf.cumsum(tf.cast(valid, tf.float32), axis=1)  # 1-based among the valid
        return valid & (position <= keep[:, None])


def time_bins_or_now(bins: Optional[tf.Tensor], rows: tf.Tensor) -> tf.Tensor:
    """[B] int64: `bins`, or when None (asked without a time) names.NOW_TIME_BIN for each of
    the B rows of `rows` (any tensor whose first dimension is the batch)."""
    if bins is None:
        return tf.fill(tf.shape(rows)[:1], tf.constant(names.NOW_TIME_BIN, tf.int64))
    return tf.cast(bins, tf.int64)


def inner_tower(layer: tf.keras.layers.Layer) -> tf.keras.layers.Layer:
    """The user tower inside a TimedUserTower or a HistoryUserTower (any other: itself)."""
    while isinstance(layer, (TimedUserTower, HistoryUserTower)):
        layer = layer.tower
    return layer


def history_tower(layer: tf.keras.layers.Layer) -> Optional[HistoryUserTower]:
    """The HistoryUserTower a user tower is (or None: the model has no history fold-in)."""
    return layer if isinstance(layer, HistoryUserTower) else None


def user_input(features: Dict[str, tf.Tensor], tower: tf.keras.layers.Layer) -> UserInput:
    """What `tower` is called with for some transformed features: with user side features,
    the index and the features the inputs carry (training's columns, a tf.Example request's
    parsed features); with the query's time, its bin too; otherwise the index alone."""
    inputs: UserInput = features[names.USER_INDEX]
    if isinstance(inner_tower(tower), UserTower) and all(
            name in features for name in names.USER_FEATURE_INDICES):
        inputs = {name: features[name]
                  for name in (names.USER_INDEX,) + names.USER_FEATURE_INDICES}
    timed = tower.tower if isinstance(tower, HistoryUserTower) else tower
    if isinstance(timed, TimedUserTower) and names.RATING_TIME_BIN in features:
        if not isinstance(inputs, dict):
            inputs = {names.USER_INDEX: inputs}
        inputs = {**inputs, names.RATING_TIME_BIN: features[names.RATING_TIME_BIN]}
    if isinstance(tower, HistoryUserTower):
        extra = {name: features[name] for name in _HISTORY_KEYS if name in features}
        if extra:
            if not isinstance(inputs, dict):
                inputs = {names.USER_INDEX: inputs}
            inputs = {**inputs, **extra}
    return inputs


def id_embedding(layer: tf.keras.layers.Layer) -> tf.Variable:
    """The [ids + OOV, dim] embedding variable of a tower, with or without side features."""
    layer = inner_tower(layer)
    if isinstance(layer, (UserTower, MovieTower)):
        return layer.id_embedding.embeddings
    return layer.embeddings  # the tutorial's tower: a plain tf.keras.layers.Embedding
