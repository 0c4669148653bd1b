"""The exported SavedModel: Transform graph + towers + rating head + a brute-force index.

Only what serves is saved (not the TFRS tasks and their metrics), so the model loads and
serves in a process that imports nothing but TensorFlow, e.g. TF Serving; and the user
vocabulary, which no signature reads, so a later Trainer can warm-start from this model
(models/warm_start.py). Signatures:
- `serving_default`: serialized tf.Example → `rating` [B, 1], `retrieval` [B, catalog]
  (column j = the j-th title of the movie vocabulary).
- `transform_features`: serialized tf.Example → the transformed features.
- `evaluate_examples`: what TFMA runs: serialized tf.Example → `rating` [B, 1], `retrieval` [B],
  the rank of the example's own title among all titles (models/eval_metrics.py), so TFMA gets
  a few numbers per example instead of a [catalog] score vector.
- `predict`: `user_id`, `movie_title` [B] → `rating` [B], `user_embedding`, `movie_embedding`
  [B, dim], `user_known`, `movie_known` [B].
- `recommend`: `user_id` [B], `k` (scalar) → `titles`, `scores` [B, k] over the whole catalog,
  best first, `user_known` [B]. `recommend_excluding` also takes `exclude_titles` [B, N] ("" pads).
- `recommend_ranked`: as `recommend_excluding`, but the `rerank_depth` best titles by retrieval
  are ordered by the rating head (models/rerank.py); `scores` are predicted ratings.
- `similar_movies`: `movie_title` [B], `k` → the k nearest other titles by cosine similarity of
  movie embeddings, `movie_known` [B].
- `recommend_for_history` (with history_fold_in): `rated_titles` [B, N] ("" pads), `k` → the k
  best titles not among them for a user the model never trained, queried with that history;
  `titles_known` [B], how many of the row's titles the catalog holds.
Unknown ids map to the vocabulary's OOV row (the `*_known` outputs say so): an unknown user gets
the same, deterministic recommendations as every other unknown user. Empty or non-UTF-8 ids,
k outside 1..max_k, more rows than `ServingLimits.max_batch` or more excluded titles per row
than `max_exclusions` fail the request with InvalidArgument naming the input, before any work.
TFMA's two signatures (`transform_features`, `evaluate_examples`) accept up to
EVAL_MAX_BATCH rows, the largest batch TFMA's reader forms. No request builds more than
`ServingLimits.max_scores` retrieval scores ([rows, catalog] float32) at once:
`serving_default`, which returns them, refuses more rows than fit (before parsing them), and
`evaluate_examples` scores and ranks its rows that many at a time.
To add a signature, add a tf.function to `ServingModule` and name it in `signatures()`.
"""

import os
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

import names
from models import towers
from models.eval_metrics import catalog_rank
from models.model import MovieLensModel, RatingHead
from models.rerank import rerank

# Inputs a serving_default request must carry; other raw features get a default if absent.
REQUIRED_SERVING_FEATURES = (names.USER_ID, names.MOVIE_TITLE)
_STRINGS = tf.TensorSpec([None], tf.string)
_K = tf.TensorSpec([], tf.int32, name=names.K_INPUT)
_EXAMPLES = tf.TensorSpec([None], tf.string, name="examples")
# tfx_bsl's batches for TFMA hold at most 1,000 examples, or 8,192 when it batches by bytes.
EVAL_MAX_BATCH = 8192
# The most retrieval scores (float32, one per row and catalog title) a request builds at once:
# 64 MiB. With ML-25M's 62k titles, 270 rows; TFMA's batch of 8,192 alone would be 2 GB, and
# ranking it several times that.
MAX_SCORES = 1 << 24

# What a later Trainer's warm start (models/warm_start.py) reads back from the SavedModel's
# variables, by these object names: the trained layers (MovieLensModel's attributes of the
# same names), and the variables holding each vocabulary in index order (the ids the layers'
# rows belong to). Models exported before `user_ids` existed cannot be warm-started from.
# The user features' vocabularies are saved only by a model with user_features (the others
# have no rows keyed by them); one exported before they were saved starts the next cold.
TRAINED_LAYERS = ("user_tower", "movie_tower", "rating_head")
VOCABULARY_VARIABLES = {names.USER_VOCABULARY: "user_ids",
                        names.MOVIE_VOCABULARY: "catalog_titles",
                        names.AGE_VOCABULARY: "user_age_values",
                        names.OCCUPATION_VOCABULARY: "user_occupation_values",
                        names.ZIP_PREFIX_VOCABULARY: "user_zip_prefix_values"}


class ServingLimits(NamedTuple):
    """The largest request each client-facing signature accepts (TrainingConfig's serving_*),
    and how many retrieved titles `recommend_ranked` orders by predicted rating."""

    max_k: int
    max_batch: int
    max_exclusions: int
    rerank_depth: int
    max_scores: int = MAX_SCORES  # see MAX_SCORES
    # False: the export holds no table of each user's rated titles (rating_history) or side
    # features (user_features): see without_user_data.
    user_data: bool = True

    @classmethod
    def from_config(cls, config) -> "ServingLimits":
        """The limits a TrainingConfig's serving_* fields and rerank_depth set."""
        return cls(config.serving_max_k, config.serving_max_batch, config.serving_max_exclusions,
                   config.rerank_depth, user_data=config.serving_user_data)


def _lenient_spec(raw_spec: Dict[str, object]) -> Dict[str, object]:
    """The raw spec with defaults for fixed-length features a serving request may omit: "",
    0.0, and -1 for integers (so an absent gender is unknown, not 0, female)."""
    spec = {}
    for name, feature in raw_spec.items():
        if isinstance(feature, tf.io.FixedLenFeature) and name not in REQUIRED_SERVING_FEATURES:
            zero = (b"" if feature.dtype == tf.string
                    else feature.dtype.as_numpy_dtype(-1 if feature.dtype.is_integer else 0))
            default = np.full(feature.shape, zero, dtype=object).tolist()
            feature = tf.io.FixedLenFeature(feature.shape, feature.dtype, default_value=default)
        spec[name] = feature
    return spec


def _require(condition: tf.Tensor, message: str) -> tf.Operation:
    """Fails the request with InvalidArgument: `message` (and never echoes the input bytes).

    Run the request's work under tf.control_dependencies of these checks, so that a bad input
    fails here, with this message, and not later in some op that chokes on it.
    """
    return tf.debugging.Assert(tf.reduce_all(condition), [message])


def _check_ids(values: tf.Tensor, name: str) -> List[tf.Operation]:
    """Rejects empty strings and bytes that are not UTF-8."""
    repaired = tf.strings.unicode_transcode(values, "UTF-8", "UTF-8", errors="replace")
    return [_require(tf.equal(repaired, values), f"{name} must be valid UTF-8"),
            _require(tf.strings.length(values) > 0, f"{name} must not be an empty string")]


def _index_table(vocabulary) -> tf.lookup.StaticHashTable:
    """A vocabulary's id → index table; unknown ids → len(vocabulary), TFT's OOV index.
    Anonymous: a named table's shared_name would embed a path of the build machine."""
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int64)),
        default_value=tf.constant(len(vocabulary), tf.int64), experimental_is_anonymous=True)


def without_user_data(model: MovieLensModel) -> Tuple[tf.keras.layers.Layer, tf.keras.layers.Layer]:
    """(user tower, rating head) that serve a user id as `model`'s do, without the tables
    that say which titles each user rated (rating_history) and each user's age, gender,
    occupation and zip code (user_features): each user's part of them is folded into that
    user's row of a per-user table the model has anyway (the tower's embedding, the head's
    factors), a sum from which they cannot be read back. The signatures that take ids answer
    as before; `serving_default` ignores the side features a request sends (a user the
    vocabulary lacks gets the unknown user's embedding), and a later warm start from such an
    export starts cold, its layers differing. The layers are new: `model` is not changed."""
    user_tower, head = model.user_tower, model.rating_head
    users = tf.range(towers.id_embedding(user_tower).shape[0], dtype=tf.int64)  # + the OOV row
    inner = towers.inner_tower(user_tower)
    history = towers.history_tower(user_tower)
    if history is not None:
        # Each user's whole query (history, features and the time now) in their row; the
        # history embedding stays, with an empty table, for recommend_for_history.
        plain = tf.keras.layers.Embedding(len(users), model.config.embedding_dim,
                                          name="user_embedding")
        plain(users[:1])
        plain.embeddings.assign(user_tower(users))
        user_tower = towers.HistoryUserTower(
            plain, model.num_movies, model.config.embedding_dim,
            np.full(history.histories.shape, model.num_movies, np.int64), name=user_tower.name)
        user_tower(users[:1])
        user_tower.history_embedding.set_weights(history.history_embedding.get_weights())
    elif isinstance(inner, towers.UserTower):
        plain = tf.keras.layers.Embedding(len(users), model.config.embedding_dim,
                                          name="user_embedding")
        plain(users[:1])  # builds it
        plain.embeddings.assign(inner(users))
        if isinstance(user_tower, towers.TimedUserTower):
            timed = towers.TimedUserTower(plain, model.config.embedding_dim,
                                          name=user_tower.name)
            timed(users[:1])
            timed.time_embedding.set_weights(user_tower.time_embedding.get_weights())
            plain = timed
        user_tower = plain
    if head.use_history:
        served = RatingHead(model.config.with_overrides({"rating_history": False}),
                            len(users) - names.NUM_OOV_BUCKETS, model.num_movies,
                            float(head.rating_mean) if head.use_biases else 0.0,
                            rating_range=head.clip_range, name=head.name)
        one = tf.zeros([1], tf.int64)
        embedding = tf.zeros([1, model.config.embedding_dim])
        served((embedding, embedding, one, one))  # builds it
        for layer in ("mlp", "user_bias", "movie_bias", "movie_factors"):
            if hasattr(head, layer):
                getattr(served, layer).set_weights(getattr(head, layer).get_weights())
        for variable in ("time_bias", "movie_time_bias"):
            if hasattr(head, variable):
                getattr(served, variable).assign(getattr(head, variable))
        served.user_factors.embeddings.assign(head._user_factors(users))
        head = served
    return user_tower, head


class ServingModule(tf.Module):
    """What TF Serving loads: the Transform layer in front of the trained towers."""

    def __init__(self, model: MovieLensModel, tf_transform_output: tft.TFTransformOutput,
                 limits: ServingLimits) -> None:
        super().__init__()
        for layer in TRAINED_LAYERS:  # self.user_tower, self.movie_tower, self.rating_head
            setattr(self, layer, getattr(model, layer))
        if not limits.user_data:
            self.user_tower, self.rating_head = without_user_data(model)
        self.num_movies = model.num_movies
        self.num_users = tf_transform_output.vocabulary_size_by_name(names.USER_VOCABULARY)
        self.max_k = min(limits.max_k, self.num_movies - 1)
        self.max_batch = limits.max_batch
        self.max_exclusions = limits.max_exclusions
        # Rows whose scores for every title fit in max_scores: serving_default's largest
        # request, evaluate_examples' chunk.
        self.score_rows = max(1, limits.max_scores // self.num_movies)
        self.serving_rows = min(self.max_batch, self.score_rows)
        # recommend_ranked's candidates; every k the signatures accept fits (max_k < catalog).
        self.rerank_depth = max(min(limits.rerank_depth, self.num_movies), self.max_k)
        self.tft_layer = tf_transform_output.transform_features_layer()
        self._raw_spec = tf_transform_output.raw_feature_spec()
        self._serving_spec = _lenient_spec(self._raw_spec)
        # Each vocabulary in index order: self.catalog_titles (the brute-force index's titles)
        # and self.user_ids, with user_features the features' (read by nothing here: a warm
        # start maps rows by value with them).
        saved = {names.USER_VOCABULARY, names.MOVIE_VOCABULARY, *model.id_keyed_variables()}
        vocabularies = {name: tf_transform_output.vocabulary_by_name(name)
                        for name in VOCABULARY_VARIABLES if name in saved}
        for name, vocabulary in vocabularies.items():
            attribute = VOCABULARY_VARIABLES[name]
            setattr(self, attribute, tf.Variable(vocabulary, trainable=False, name=attribute))
        # Id → vocabulary index, any other string → the vocabulary's size: TFT's own mapping
        # (its one OOV bucket), without running the whole Transform graph per request.
        self.title_index = _index_table(vocabularies[names.MOVIE_VOCABULARY])
        self.user_index = _index_table(vocabularies[names.USER_VOCABULARY])
        catalog = model.catalog_embeddings()
        self.catalog = tf.Variable(catalog, trainable=False, name="catalog_embeddings")
        self.catalog_unit = tf.Variable(tf.math.l2_normalize(catalog, axis=1), trainable=False,
                                        name="catalog_unit_embeddings")
        if towers.history_tower(self.user_tower) is not None:  # only a model that pools one
            self.recommend_for_history = tf.function(
                self._recommend_for_history, input_signature=[
                    tf.TensorSpec([None, None], tf.string, name=names.HISTORY_INPUT), _K])

    # -- helpers --------------------------------------------------------------------------

    def _check_k(self, k: tf.Tensor) -> tf.Operation:
        return _require((k >= 1) & (k <= self.max_k), f"k must be in 1..{self.max_k}")

    def _check_batch(self, values: tf.Tensor, name: str, limit: Optional[int] = None,
                     why: str = "") -> tf.Operation:
        """Refuses more than `limit` rows (default: the client-facing max_batch)."""
        limit = self.max_batch if limit is None else limit
        return _require(tf.shape(values)[0] <= limit,
                        f"{name} holds more than {limit} rows{why}: send smaller batches")

    def _top_k(self, scores: tf.Tensor, k: tf.Tensor) -> Dict[str, tf.Tensor]:
        best = tf.math.top_k(scores, k=k)
        return {names.TITLES_OUTPUT: tf.gather(self.catalog_titles, best.indices),
                names.SCORES_OUTPUT: best.values}

    def _catalog_scores(self, user_embeddings: tf.Tensor) -> tf.Tensor:
        """[B, catalog]: each user's retrieval score for every title (the brute-force index)."""
        return tf.linalg.matmul(user_embeddings, self.catalog, transpose_b=True)

    def _user_and_rating(self, transformed: Dict[str, tf.Tensor]):
        """(user embeddings [B, dim], predicted ratings [B, 1]) of transformed examples."""
        # With user side features, those the example carries (a user the vocabulary does not
        # know still gets an embedding from them), the known user's own for those it lacks.
        user = self.user_tower(towers.user_input(transformed, self.user_tower))
        movie = self.movie_tower(transformed[names.MOVIE_INDEX])
        rating = self.rating_head(
            (user, movie, transformed[names.USER_INDEX], transformed[names.MOVIE_INDEX]),
            time_bin=transformed.get(names.RATING_TIME_BIN))
        return user, rating

    def _scores(self, transformed: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        user, rating = self._user_and_rating(transformed)
        return {names.RATING_OUTPUT: rating, names.RETRIEVAL_OUTPUT: self._catalog_scores(user)}

    def _transform(self, serialized: tf.Tensor, spec: Dict[str, object],
                   limit: int, why: str = "") -> Dict[str, tf.Tensor]:
        """Serialized tf.Examples → transformed features; more than `limit` rows are refused
        before they are parsed."""
        with tf.control_dependencies([self._check_batch(serialized, "examples", limit, why)]):
            raw = tf.io.parse_example(serialized, spec)
        return self.tft_layer(raw)

    def _catalog_ranks(self, users: tf.Tensor, titles: tf.Tensor) -> tf.Tensor:
        """user embeddings [B, dim], title indices [B] → float32 [B]: catalog_rank of each
        example's own title, `score_rows` rows at a time (one after the other), so that no
        more than max_scores scores exist at once, whatever B."""
        rows = tf.shape(users)[0]
        chunks = (rows + self.score_rows - 1) // self.score_rows

        def rank_chunk(chunk, ranks):
            begin = chunk * self.score_rows
            end = tf.minimum(begin + self.score_rows, rows)
            scores = self._catalog_scores(users[begin:end])
            return chunk + 1, ranks.write(chunk, catalog_rank(scores, titles[begin:end]))

        ranks = tf.TensorArray(tf.float32, size=chunks, infer_shape=False, element_shape=[None])
        _, ranks = tf.while_loop(lambda chunk, _: chunk < chunks, rank_chunk,
                                 (tf.constant(0), ranks), parallel_iterations=1)
        return tf.reshape(ranks.concat(), [rows])

    def _title_mask(self, titles: tf.Tensor) -> tf.Tensor:
        """titles [B, N] → bool [B, catalog]: True where row b lists that title. Titles map to
        catalog indices ("", unknown titles and bytes that are no title map to the OOV column,
        dropped) and one bincount per row marks them, so the cost is B × (N + catalog), not
        B × N × catalog string comparisons."""
        index = tf.cast(self.title_index.lookup(titles), tf.int32)
        columns = self.num_movies + names.NUM_OOV_BUCKETS
        listed = tf.math.bincount(index, minlength=columns, maxlength=columns, axis=-1,
                                  binary_output=True)
        return listed[:, :self.num_movies] > 0

    def _user_scores(self, user_ids: tf.Tensor, k: tf.Tensor):
        with tf.control_dependencies(_check_ids(user_ids, names.USER_ID) + [
                self._check_k(k), self._check_batch(user_ids, names.USER_ID)]):
            users = self.user_index.lookup(user_ids)
        return users, self._catalog_scores(self.user_tower(users))

    # -- signatures -----------------------------------------------------------------------

    @tf.function(input_signature=[_EXAMPLES])
    def serve_examples(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
        why = (f" (serving_default returns a score for each of the {self.num_movies} catalog "
               f"titles per row, at most {self.score_rows} rows' worth; `recommend` returns "
               f"the best k)" if self.serving_rows < self.max_batch else "")
        return self._scores(self._transform(serialized, self._serving_spec, self.serving_rows,
                                            why))

    @tf.function(input_signature=[_EXAMPLES])
    def transform_examples(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
        # The transformed features: a few numbers per row, no score per title.
        return self._transform(serialized, self._raw_spec, EVAL_MAX_BATCH)

    @tf.function(input_signature=[_EXAMPLES])
    def evaluate_examples(self, serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
        # TFMA's batch as it comes (a refused batch would be retried one example at a time),
        # ranked score_rows rows at a time.
        transformed = self._transform(serialized, self._serving_spec, EVAL_MAX_BATCH)
        user, rating = self._user_and_rating(transformed)
        return {names.RATING_OUTPUT: rating, names.RETRIEVAL_OUTPUT: self._catalog_ranks(
            user, transformed[names.MOVIE_INDEX])}

    @tf.function(input_signature=[_STRINGS, _STRINGS])
    def predict(self, user_id: tf.Tensor, movie_title: tf.Tensor) -> Dict[str, tf.Tensor]:
        checks = (_check_ids(user_id, names.USER_ID)
                  + _check_ids(movie_title, names.MOVIE_TITLE)
                  + [self._check_batch(user_id, names.USER_ID),
                     _require(tf.size(user_id) == tf.size(movie_title),
                              "user_id and movie_title must have the same length")])
        with tf.control_dependencies(checks):
            users = self.user_index.lookup(user_id)
            movies = self.title_index.lookup(movie_title)
        user, movie = self.user_tower(users), self.movie_tower(movies)
        rating = self.rating_head((user, movie, users, movies))
        return {names.PREDICTED_RATING: rating[:, 0],
                names.USER_EMBEDDING: user, names.MOVIE_EMBEDDING: movie,
                names.USER_KNOWN: users < self.num_users,
                names.MOVIE_KNOWN: movies < self.num_movies}

    @tf.function(input_signature=[_STRINGS, _K])
    def recommend(self, user_id: tf.Tensor, k: tf.Tensor) -> Dict[str, tf.Tensor]:
        users, scores = self._user_scores(user_id, k)
        return {**self._top_k(scores, k), names.USER_KNOWN: users < self.num_users}

    def _scores_excluding(self, user_id: tf.Tensor, k: tf.Tensor, exclude_titles: tf.Tensor):
        """(user indices [B], retrieval scores [B, catalog] with the excluded titles at -inf),
        after the size, id and k checks, and that k titles are left."""
        sizes = [self._check_batch(user_id, names.USER_ID),  # before any title is read
                 _require(tf.shape(exclude_titles)[1] <= self.max_exclusions,
                          f"{names.EXCLUDE_INPUT} holds more than {self.max_exclusions} titles "
                          f"per row"),
                 _require(tf.shape(exclude_titles)[0] == tf.size(user_id),
                          "exclude_titles must have one row per user_id")]
        # Excluded titles are not checked for UTF-8 (it cost 4 ms for 64 × 100 titles): bytes
        # that are no catalog title are ignored, as unknown titles are.
        with tf.control_dependencies(sizes):
            users, scores = self._user_scores(user_id, k)
            excluded = self._title_mask(exclude_titles)
        return users, self._without(scores, excluded, k, "exclusion")

    def _without(self, scores: tf.Tensor, titles: tf.Tensor, k: tf.Tensor,
                 what: str) -> tf.Tensor:
        """`scores` [B, catalog] with the `titles` mask [B, catalog] at -inf (never
        recommended), after checking that k titles are left in every row."""
        left = self.num_movies - tf.reduce_sum(tf.cast(titles, tf.int32), axis=1)
        with tf.control_dependencies([_require(left >= k,
                                               f"k exceeds the titles left after {what}")]):
            return tf.where(titles, tf.constant(-np.inf, scores.dtype), scores)

    @tf.function(input_signature=[_STRINGS, _K, tf.TensorSpec([None, None], tf.string)])
    def recommend_excluding(self, user_id: tf.Tensor, k: tf.Tensor,
                            exclude_titles: tf.Tensor) -> Dict[str, tf.Tensor]:
        users, scores = self._scores_excluding(user_id, k, exclude_titles)
        return {**self._top_k(scores, k), names.USER_KNOWN: users < self.num_users}

    @tf.function(input_signature=[_STRINGS, _K, tf.TensorSpec([None, None], tf.string)])
    def recommend_ranked(self, user_id: tf.Tensor, k: tf.Tensor,
                         exclude_titles: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The `rerank_depth` best titles by retrieval score (excluded ones left out), the k
        best of those by predicted rating; `scores` are the predicted ratings."""
        users, scores = self._scores_excluding(user_id, k, exclude_titles)
        titles, ratings = rerank(self.user_tower, self.movie_tower, self.rating_head, users,
                                 scores, self.rerank_depth, k)
        return {names.TITLES_OUTPUT: tf.gather(self.catalog_titles, titles),
                names.SCORES_OUTPUT: ratings, names.USER_KNOWN: users < self.num_users}

    def _recommend_for_history(self, rated_titles: tf.Tensor,
                               k: tf.Tensor) -> Dict[str, tf.Tensor]:
        """A user the model never trained, from the titles they rated so far (history_fold_in):
        `rated_titles` [B, N] ("" pads; unknown titles are ignored) → the k best other titles
        for the unknown user with that history, `titles_known` [B]: how many of the row's
        titles the catalog holds (0: served as a user with nothing)."""
        checks = [self._check_batch(rated_titles, names.HISTORY_INPUT),
                  _require(tf.shape(rated_titles)[1] <= self.max_exclusions,
                           f"{names.HISTORY_INPUT} holds more than {self.max_exclusions} "
                           f"titles per row"),
                  self._check_k(k)]
        with tf.control_dependencies(checks):
            history = self.title_index.lookup(rated_titles)  # unknown and "" → num_movies
            rated = self._title_mask(rated_titles)
        users = tf.fill(tf.shape(history)[:1], tf.constant(self.num_users, tf.int64))
        query = self.user_tower({names.USER_INDEX: users, names.USER_HISTORY: history})
        scores = self._without(self._catalog_scores(query), rated, k, "the history")
        return {**self._top_k(scores, k),
                names.TITLES_KNOWN: tf.reduce_sum(tf.cast(rated, tf.int32), axis=1)}

    @tf.function(input_signature=[_STRINGS, _K])
    def similar_movies(self, movie_title: tf.Tensor, k: tf.Tensor) -> Dict[str, tf.Tensor]:
        with tf.control_dependencies(_check_ids(movie_title, names.MOVIE_TITLE) + [
                self._check_k(k), self._check_batch(movie_title, names.MOVIE_TITLE)]):
            movies = self.title_index.lookup(movie_title)
        query = tf.math.l2_normalize(self.movie_tower(movies), axis=1)
        scores = tf.linalg.matmul(query, self.catalog_unit, transpose_b=True)
        itself = tf.one_hot(movies, self.num_movies, on_value=True, off_value=False)  # OOV: none
        scores = tf.where(itself, tf.constant(-np.inf, scores.dtype), scores)
        return {**self._top_k(scores, k), names.MOVIE_KNOWN: movies < self.num_movies}

    def signatures(self) -> Dict[str, tf.types.experimental.ConcreteFunction]:
        history = ({names.RECOMMEND_FOR_HISTORY_SIGNATURE:
                    self.recommend_for_history.get_concrete_function()}
                   if hasattr(self, "recommend_for_history") else {})
        return {**history,
            names.SERVING_SIGNATURE: self.serve_examples.get_concrete_function(),
            names.TRANSFORM_SIGNATURE: self.transform_examples.get_concrete_function(),
            names.EVAL_SIGNATURE: self.evaluate_examples.get_concrete_function(),
            names.PREDICT_SIGNATURE: self.predict.get_concrete_function(),
            names.RECOMMEND_SIGNATURE: self.recommend.get_concrete_function(),
            names.RECOMMEND_EXCLUDING_SIGNATURE:
                self.recommend_excluding.get_concrete_function(),
            names.RECOMMEND_RANKED_SIGNATURE: self.recommend_ranked.get_concrete_function(),
            names.SIMILAR_SIGNATURE: self.similar_movies.get_concrete_function(),
        }


def warmup_requests(user_id: bytes, movie_title: bytes, example: bytes, max_k: int,
                    history: bool = False) -> List[object]:
    """PredictionLogs TF Serving replays at load time: one per signature, batch 1, with
    k = min(10, max_k): a k the model refuses would make TF Serving refuse to load it."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    def request(signature: str, **inputs) -> prediction_log_pb2.PredictionLog:
        proto = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
        for name, value in inputs.items():
            proto.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        return prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=proto))

    k = np.int32(min(10, max_k))
    return [
        request(names.SERVING_SIGNATURE, examples=[example]),
        request(names.EVAL_SIGNATURE, examples=[example]),
        request(names.PREDICT_SIGNATURE, user_id=[user_id], movie_title=[movie_title]),
        request(names.RECOMMEND_SIGNATURE, user_id=[user_id], k=k),
        request(names.RECOMMEND_EXCLUDING_SIGNATURE, user_id=[user_id], k=k,
                exclude_titles=[[movie_title]]),
        request(names.RECOMMEND_RANKED_SIGNATURE, user_id=[user_id], k=k,
                exclude_titles=[[movie_title]]),
        request(names.SIMILAR_SIGNATURE, movie_title=[movie_title], k=k),
    ] + ([request(names.RECOMMEND_FOR_HISTORY_SIGNATURE, rated_titles=[[movie_title]], k=k)]
         if history else [])


def save_serving_model(model: MovieLensModel, tf_transform_output: tft.TFTransformOutput,
                       export_dir: str, limits: ServingLimits) -> None:
    """Saves the SavedModel, then its warm-up requests (the most frequent user and title)."""
    module = ServingModule(model, tf_transform_output, limits)
    signatures = module.signatures()
    tf.saved_model.save(module, export_dir, signatures=signatures)
    user = tf_transform_output.vocabulary_by_name(names.USER_VOCABULARY)[0]
    title = tf_transform_output.vocabulary_by_name(names.MOVIE_VOCABULARY)[0]
    example = tf.train.Example(features=tf.train.Features(feature={
        names.USER_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[user])),
        names.MOVIE_TITLE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[title])),
    }))
    path = os.path.join(export_dir, names.WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests(user, title, example.SerializeToString(), module.max_k,
                                   names.RECOMMEND_FOR_HISTORY_SIGNATURE in signatures):
            writer.write(log.SerializeToString())
