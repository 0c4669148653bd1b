"""The multi-task TFRS model: shared user and movie towers, a rating head and retrieval.

Inputs are the transformed features (vocabulary indices), so the towers are plain embedding
tables; the StringLookup part of each tower is the Transform graph, which the exported model
carries in front of them (see models/export.py).
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

import names
from models import distribute, retrieval_loss, side_features, towers
from models.hparams import TrainingConfig
from models.side_features import SideFeatures


def make_optimizer(config: TrainingConfig,
                   learning_rate: Optional[float] = None) -> tf.keras.optimizers.Optimizer:
    """The config's optimizer, at `learning_rate` if given, else the config's."""
    optimizers = {
        "adagrad": tf.keras.optimizers.Adagrad,
        "adam": tf.keras.optimizers.Adam,
        "sgd": tf.keras.optimizers.SGD,
    }
    return optimizers[config.optimizer](learning_rate=learning_rate or config.learning_rate)


class SeededDropout(tf.keras.layers.Layer):
    """Dropout whose masks come from a stateless generator keyed on (seed, call count), so a
    seeded run drops the same units on every machine: under XLA, Keras's Dropout ignores its
    seed (TF warns 'Using tf.random.uniform with XLA compilation will ignore seeds')."""

    def __init__(self, rate: float, seed: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed

    def build(self, input_shape) -> None:
        self.calls = self.add_weight(name="calls", shape=[], dtype=tf.int64,
                                     initializer="zeros", trainable=False)

    def call(self, inputs: tf.Tensor, training=None) -> tf.Tensor:
        # `rate` is read when the step is traced: a new rate needs a new step (a compile).
        if not training or not self.rate:
            return inputs
        self.calls.assign_add(1)
        key = tf.stack([tf.constant(self.seed, tf.int64), self.calls])
        kept = tf.random.stateless_uniform(tf.shape(inputs), seed=key) >= self.rate
        return tf.where(kept, inputs / (1.0 - self.rate), tf.zeros_like(inputs))


class RatingHead(tf.keras.layers.Layer):
    """Predicted rating from (user embedding, movie embedding, user index, movie index).

    The tutorial's head is an MLP over the two embeddings (with `rating_mlp_product`, and
    their elementwise product: the retrieval score's terms, which an MLP over the
    concatenation learns poorly, as NeuMF's GMF part gives them). With `rating_biases`, it
    predicts a residual over the training mean plus a user and a movie bias (the classic
    baseline predictor), so the embeddings, shared with retrieval, only carry the interaction;
    with `rating_factors`, plus the dot product of factors of its own (biased matrix
    factorization), which the retrieval loss does not train, the user's with `rating_history`
    including the implicit factors of the titles they rated (SVD++); with `rating_time_bias`,
    plus a bias of the rating's time bin and one of the (title, time bin) pair (timeSVD++'s
    b_bin and b_i,bin: how ratings, overall and of each title, drift over time); with
    `rating_clip`, outside training, clipped to `rating_range`.
    The exported model calls this layer too, so serving gives the rating training measured.
    """

    def __init__(self, config: TrainingConfig, num_users: int, num_movies: int,
                 rating_mean: float = 0.0, user_histories: Optional[np.ndarray] = None,
                 rating_range: Optional[Tuple[float, float]] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.clip_range = None
        if config.rating_clip:
            if rating_range is None:
                raise ValueError("rating_clip needs the fit examples' rating range (rating_range)")
            self.clip_range = tuple(float(bound) for bound in rating_range)
        hidden = []
        for layer, units in enumerate(config.rating_layers):
            hidden.append(tf.keras.layers.Dense(units, activation="relu"))
            if config.rating_dropout or config.rating_head_dropout:
                hidden.append(SeededDropout(config.rating_dropout, config.seed + layer))
        self.mlp = tf.keras.Sequential(hidden + [tf.keras.layers.Dense(1)], name="mlp")
        self.reads_product = config.rating_mlp_product
        self.use_biases = config.rating_biases
        if self.use_biases:
            self.user_bias = tf.keras.layers.Embedding(
                num_users + names.NUM_OOV_BUCKETS, 1, embeddings_initializer="zeros",
                name="user_bias")
            self.movie_bias = tf.keras.layers.Embedding(
                num_movies + names.NUM_OOV_BUCKETS, 1, embeddings_initializer="zeros",
                name="movie_bias")
            self.rating_mean = tf.constant(rating_mean, tf.float32)
        self.use_factors = config.rating_factors > 0
        if self.use_factors:
            self.user_factors = tf.keras.layers.Embedding(
                num_users + names.NUM_OOV_BUCKETS, config.rating_factors, name="user_factors")
            self.movie_factors = tf.keras.layers.Embedding(
                num_movies + names.NUM_OOV_BUCKETS, config.rating_factors, name="movie_factors")
        self.use_history = config.rating_history
        if self.use_history:
            if user_histories is None:
                raise ValueError("rating_history needs the users' histories (user_histories)")
            self.implicit_factors = tf.keras.layers.Embedding(
                num_movies + names.NUM_OOV_BUCKETS, config.rating_factors,
                name="implicit_factors")
            self.implicit_factors.build(None)  # read as a whole table, never called on ids
            # Data, not weights: rebuilt from each run's fit examples (a warm start keeps it).
            self.user_histories = self.add_weight(
                name="user_histories", shape=user_histories.shape, dtype=tf.float32,
                trainable=False, initializer=tf.constant_initializer(user_histories))

        self.use_time = config.rating_time_bias
        if self.use_time:  # zeros: no time effect until the rating loss finds one
            self.time_bias = self.add_weight(name="time_bias", shape=[names.NUM_TIME_BINS],
                                             initializer="zeros")
            self.movie_time_bias = self.add_weight(
                name="movie_time_bias",
                shape=[num_movies + names.NUM_OOV_BUCKETS, names.NUM_TIME_BINS],
                initializer="zeros")

    def set_dropout(self, rate: float) -> None:
        """The MLP's dropout rate from the next traced step on (the layers exist when the
        config has rating_dropout or rating_head_dropout)."""
        for layer in self.mlp.layers:  # not a list of its own: one checkpoint path each
            if isinstance(layer, SeededDropout):
                layer.rate = rate

    def id_keyed_variables(self) -> Dict[str, List[tf.Variable]]:
        """Vocabulary name → this head's variables with one row per id of that vocabulary."""
        keyed: Dict[str, List[tf.Variable]] = {names.USER_VOCABULARY: [],
                                               names.MOVIE_VOCABULARY: []}
        if self.use_biases:
            keyed[names.USER_VOCABULARY].append(self.user_bias.embeddings)
            keyed[names.MOVIE_VOCABULARY].append(self.movie_bias.embeddings)
        if self.use_factors:
            keyed[names.USER_VOCABULARY].append(self.user_factors.embeddings)
            keyed[names.MOVIE_VOCABULARY].append(self.movie_factors.embeddings)
        if self.use_history:
            keyed[names.MOVIE_VOCABULARY].append(self.implicit_factors.embeddings)
        if self.use_time:
            keyed[names.MOVIE_VOCABULARY].append(self.movie_time_bias)
        return {vocabulary: variables for vocabulary, variables in keyed.items() if variables}

    def run_data_variables(self) -> List[tf.Variable]:
        """Variables that hold this run's data, not trained weights (a warm start skips them)."""
        return [self.user_histories] if self.use_history else []

    def _user_factors(self, user_index: tf.Tensor) -> tf.Tensor:
        """[B, factors]: the users' own factors, plus with rating_history the normalized sum of
        their titles' implicit factors (a dense [B, titles] x [titles, factors] product)."""
        factors = self.user_factors(user_index)
        if self.use_history:
            factors += tf.linalg.matmul(tf.gather(self.user_histories, user_index),
                                        self.implicit_factors.embeddings)
        return factors

    def factor_squared_norms(self, user_index: tf.Tensor, movie_index: tf.Tensor) -> tf.Tensor:
        """Sum over the batch of the squared norms of its rating factors (0 without them)."""
        if not self.use_factors:
            return tf.constant(0.0)
        return (tf.reduce_sum(tf.square(self._user_factors(user_index)))
                + tf.reduce_sum(tf.square(self.movie_factors(movie_index))))

    def bias_squared_norms(self, user_index: tf.Tensor, movie_index: tf.Tensor) -> tf.Tensor:
        """Sum over the batch of its user and movie biases squared (0 without them)."""
        if not self.use_biases:
            return tf.constant(0.0)
        return (tf.reduce_sum(tf.square(self.user_bias(user_index)))
                + tf.reduce_sum(tf.square(self.movie_bias(movie_index))))

    def call(self, inputs: Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor],
             time_bin: Optional[tf.Tensor] = None, training=None) -> tf.Tensor:
        """`inputs`: (user embeddings, movie embeddings, user indices, movie indices);
        `time_bin` [B] (names.RATING_TIME_BIN): the ratings' time bins, None = now (the last
        bin), as for a prediction served without a time."""
        user_embeddings, movie_embeddings, user_index, movie_index = inputs
        mlp_inputs = [user_embeddings, movie_embeddings]
        if self.reads_product:
            mlp_inputs.append(user_embeddings * movie_embeddings)
        rating = self.mlp(tf.concat(mlp_inputs, axis=1))
        if self.use_time:
            time_bin = tf.cast(towers.time_bins_or_now(time_bin, movie_index), movie_index.dtype)
            # The titles' rows, then each row's bin: gathers XLA compiles (a gather_nd on the
            # variable does not), with a gradient on the batch's rows only.
            movie_rows = tf.gather(self.movie_time_bias, movie_index)  # [B, NUM_TIME_BINS]
            rating += tf.expand_dims(
                tf.gather(self.time_bias, time_bin)
                + tf.gather(movie_rows, time_bin, batch_dims=1), axis=1)
        if self.use_biases:
            rating += self.rating_mean + self.user_bias(user_index) + self.movie_bias(movie_index)
        if self.use_factors:
            rating += tf.reduce_sum(
                self._user_factors(user_index) * self.movie_factors(movie_index), axis=1,
                keepdims=True)
        if self.clip_range is not None and not training:
            rating = tf.clip_by_value(rating, *self.clip_range)
        return rating


def masked_rating_weights(inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
    """[B, 1] weights of the rating loss: the rating mask (1 when the input has none)."""
    labels = inputs[names.RATING_LABEL]
    mask = inputs.get(names.RATING_MASK)
    if mask is None:
        mask = tf.ones_like(labels)
    return tf.expand_dims(tf.cast(mask, tf.float32), axis=1)


class MovieLensModel(tfrs.Model):
    """loss = rating_weight * MSE(rating) + retrieval_weight * in-batch softmax(retrieval).

    A task whose weight is 0 still reports its metrics but adds nothing to the loss, so it
    receives no gradient (0 * loss would still propagate NaN/inf from a diverging head).
    Examples without a rating (mask 0) add nothing to the rating loss or RMSE; the rating loss
    is the mean over the rated examples of the batch. Retrieval uses every example.
    """

    def __init__(self, config: TrainingConfig, num_users: int, num_movies: int,
                 rating_mean: float = 0.0,
                 movie_probabilities: Optional[Sequence[float]] = None,
                 side: Optional[SideFeatures] = None,
                 user_histories: Optional[np.ndarray] = None,
                 rating_range: Optional[Tuple[float, float]] = None,
                 fold_in_histories: Optional[np.ndarray] = None) -> None:
        """`user_histories`: rating_history's [users + 1, titles + 1] table;
        `fold_in_histories`: history_fold_in's [users + 1, history_length] titles per user
        (num_movies pads; none given: every user's history empty)."""
        super().__init__()
        side_features.check_available(config, side)
        self.config = config
        self.num_movies = num_movies
        self.movie_probabilities = None
        if config.sampling_bias_correction:
            if movie_probabilities is None:
                raise ValueError("sampling_bias_correction needs movie_probabilities")
            self.movie_probabilities = tf.constant(movie_probabilities, tf.float32)
        if config.user_features:
            self.user_tower = towers.UserTower(num_users, config.embedding_dim,
                                               side.user_features, side.user_feature_sizes,
                                               name="user_tower")
        else:  # the tutorial's tower
            self.user_tower = tf.keras.layers.Embedding(
                num_users + names.NUM_OOV_BUCKETS, config.embedding_dim, name="user_embedding")
        if config.query_time:
            self.user_tower = towers.TimedUserTower(self.user_tower, config.embedding_dim,
                                                    name="timed_user_tower")
        if config.history_fold_in:
            if fold_in_histories is None:
                fold_in_histories = np.full((num_users + names.NUM_OOV_BUCKETS,
                                             config.history_length), num_movies, np.int64)
            self.user_tower = towers.HistoryUserTower(
                self.user_tower, num_movies, config.embedding_dim, fold_in_histories,
                name="history_user_tower")
        if config.movie_genres or config.title_tokens:
            self.movie_tower = towers.MovieTower(
                num_movies, config.embedding_dim,
                side.movie_genres if config.movie_genres else None,
                side.title_tokens if config.title_tokens else None, side.title_token_count,
                name="movie_tower")
        else:
            self.movie_tower = tf.keras.layers.Embedding(
                num_movies + names.NUM_OOV_BUCKETS, config.embedding_dim, name="movie_embedding")
        self.rating_head = RatingHead(config, num_users, num_movies, rating_mean,
                                      user_histories, rating_range, name="rating_head")
        self.rating_task = tfrs.tasks.Ranking(
            # SUM: a strategy forbids AUTO reductions in a custom step; task_losses normalizes.
            loss=tf.keras.losses.MeanSquaredError(reduction=tf.keras.losses.Reduction.SUM),
            metrics=[tf.keras.metrics.RootMeanSquaredError()],
        )
        self.retrieval_temperature = (None if config.retrieval_temperature == 1.0
                                      else config.retrieval_temperature)
        # Candidates: every catalog title (vocabulary indices 0..num_movies-1, not the OOV row).
        catalog = tf.data.Dataset.range(num_movies).batch(1024).map(self.movie_tower)
        self.retrieval_task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=catalog, ks=config.top_ks),
            temperature=self.retrieval_temperature,
            remove_accidental_hits=config.remove_accidental_hits)
        # The steps' logs are the same on every replica (see _global_logs): take the first's.
        self.distribute_reduction_method = "first"
        # TFRS's step (forward, gradients, update), XLA-compiled when asked for and there is
        # one replica (cross-replica sums stay outside compiled code). Not Keras's own
        # `jit_compile`: that would compile the evaluation step too, whose catalog top-K
        # streams the candidates through tf.data, which XLA cannot compile.
        self._replica_train_step = self._make_replica_train_step()
        # Whether the steps train the rating head alone (see train_rating_head_only).
        self.head_only = False
        self._create_variables()

    def _make_replica_train_step(self):
        # Not with history_fold_in: XLA on CPU turns the gradient of the history's gather
        # ([batch, history_length] rows of the history embedding) into a serial scatter, 8x
        # slower than TF's own kernels (docs/experiments.md, "New users").
        if (self.config.jit_compile and not self.config.history_fold_in
                and tf.distribute.get_strategy().num_replicas_in_sync == 1):
            return tf.function(super().train_step, jit_compile=True)
        return super().train_step

    def train_rating_head_only(self, head_only: bool = True) -> None:
        """From now on a training step updates the rating head alone (False: every layer
        again): the towers are frozen, so retrieval and the embeddings the head reads stay as
        they are, and the losses that only reach the towers (retrieval, embedding L2) are left
        out. Compiles the model again: Keras rebuilds its steps, and the optimizer starts
        afresh for the variables that now train, at `rating_head_learning_rate` (if set) while
        the head trains alone, with `rating_head_dropout` in its MLP."""
        self.user_tower.trainable = not head_only
        self.movie_tower.trainable = not head_only
        self.head_only = head_only
        self.rating_head.set_dropout(self.config.rating_head_dropout if head_only
                                     else self.config.rating_dropout)
        self._replica_train_step = self._make_replica_train_step()  # traced anew
        head_rate = self.config.rating_head_learning_rate if head_only else None
        self.compile(optimizer=make_optimizer(self.config, head_rate))

    def _create_variables(self) -> None:
        """Creates every layer's variables now, eagerly, from the seeded global RNG.

        Left to Keras, the layers are built inside the first traced train step, where an
        unseeded initializer's op seed depends on how many ops that graph already holds, which
        differs under a distribution strategy: the same config would then start from different
        weights on one worker and on N workers.
        """
        one = tf.zeros([1], tf.int64)
        self({names.USER_INDEX: one, names.MOVIE_INDEX: one})

    def id_keyed_variables(self) -> Dict[str, List[tf.Variable]]:
        """Vocabulary name → the variables with one row per id of that vocabulary (index order,
        then the OOV rows): what a warm start (models/warm_start.py) maps by id, not copies."""
        keyed = {names.USER_VOCABULARY: [towers.id_embedding(self.user_tower)],
                 names.MOVIE_VOCABULARY: [towers.id_embedding(self.movie_tower)]}
        if self.config.user_features:
            # Age buckets, occupations and zip prefixes have their own vocabularies, which TFT
            # orders by frequency each run: their embeddings' rows go by value too. Gender's
            # two values have fixed indices (no vocabulary): its embedding is copied whole.
            tower = towers.inner_tower(self.user_tower)
            for feature, embedding in zip(names.USER_FEATURE_INDICES, tower.feature_embeddings):
                if feature in names.USER_FEATURE_VOCABULARIES:
                    keyed[names.USER_FEATURE_VOCABULARIES[feature]] = [embedding.embeddings]
        if self.config.movie_genres:
            keyed[names.MOVIE_VOCABULARY].append(self.movie_tower.genre_table)
        if self.config.title_tokens:
            keyed[names.MOVIE_VOCABULARY].append(self.movie_tower.token_table)
        history = towers.history_tower(self.user_tower)
        if history is not None:
            keyed[names.MOVIE_VOCABULARY].append(history.history_embedding.embeddings)
        for vocabulary, variables in self.rating_head.id_keyed_variables().items():
            keyed[vocabulary] += variables
        return keyed

    def run_data_variables(self) -> List[tf.Variable]:
        """Variables built from this run's examples, not trained (a warm start keeps them).
        The users' feature table is one: its values index this run's feature vocabularies."""
        table = ([towers.inner_tower(self.user_tower).feature_table]
                 if self.config.user_features else [])
        history = towers.history_tower(self.user_tower)
        if history is not None:  # titles by this run's indices, users by this run's rows
            table.append(history.histories)
        return table + self.rating_head.run_data_variables()

    def catalog_embeddings(self) -> tf.Tensor:
        """[num_movies, dim]: the movie tower applied to every catalog title."""
        return self.movie_tower(tf.range(self.num_movies, dtype=tf.int64))

    def call(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        users, movies = inputs[names.USER_INDEX], inputs[names.MOVIE_INDEX]
        # With user features, the examples' own (an example whose id was dropped keeps them).
        user_embeddings = self.user_tower(towers.user_input(inputs, self.user_tower))
        movie_embeddings = self.movie_tower(movies)
        rating = self.rating_head((user_embeddings, movie_embeddings, users, movies),
                                  time_bin=inputs.get(names.RATING_TIME_BIN))
        return {names.USER_EMBEDDING: user_embeddings, names.MOVIE_EMBEDDING: movie_embeddings,
                names.RATING_OUTPUT: rating}

    def task_losses(self, inputs: Dict[str, tf.Tensor],
                    training: bool = False) -> Dict[str, tf.Tensor]:
        """Each task's unweighted loss; also updates the tasks' metrics.

        Under a multi-replica strategy these are this replica's *shares* of the global batch's
        losses (the optimizer sums the replicas' gradients): the rating loss is the replica's
        weighted squared errors over the global number of rated examples, the L2 term its sum
        over the global batch size; TFRS's retrieval loss is a sum over examples already, with
        the replica's own batch as in-batch negatives. With one replica: the batch's losses.
        """
        outputs = self(inputs, training=training)  # training: the rating MLP's dropout
        labels = tf.expand_dims(inputs[names.RATING_LABEL], axis=1)
        weights = masked_rating_weights(inputs)
        batch_size = tf.cast(tf.shape(weights)[0], tf.float32)
        rated, examples = distribute.global_sum((tf.reduce_sum(weights), batch_size))
        # The mean over the rated examples (MSE summed, then divided by their global count).
        rating_loss = self.rating_task(labels=labels, predictions=outputs[names.RATING_OUTPUT],
                                       sample_weight=weights) / tf.maximum(rated, 1.0)
        squared_norms = (tf.reduce_sum(tf.square(outputs[names.USER_EMBEDDING]))
                         + tf.reduce_sum(tf.square(outputs[names.MOVIE_EMBEDDING])))
        users, movies = inputs[names.USER_INDEX], inputs[names.MOVIE_INDEX]
        factor_norms = self.rating_head.factor_squared_norms(users, movies)
        return {
            "rating": rating_loss,
            "retrieval": self._retrieval_loss(inputs, outputs, training),
            "embedding_l2": squared_norms / tf.maximum(examples, 1.0),
            "rating_factor_l2": factor_norms / tf.maximum(examples, 1.0),
            "rating_bias_l2": (self.rating_head.bias_squared_norms(users, movies)
                               / tf.maximum(examples, 1.0)),
        }

    def _retrieval_loss(self, inputs: Dict[str, tf.Tensor], outputs: Dict[str, tf.Tensor],
                        training: bool) -> tf.Tensor:
        """The in-batch softmax loss (summed over the batch).

        Training: the log-sum-exp form (retrieval_loss.py), the same loss at a fraction of the
        cost of TFRS's. Evaluation: TFRS's task, which also updates the catalog top-K metrics
        (far costlier than the step itself: only in evaluation).
        """
        # Title indices, for accidental hits; TFRS then also counts a top-K hit by index,
        # against the catalog's stream positions (int32; the catalog streams in index order,
        # so the same titles).
        candidate_ids = (tf.cast(inputs[names.MOVIE_INDEX], tf.int32)
                         if self.config.remove_accidental_hits else None)
        queries, candidates = outputs[names.USER_EMBEDDING], outputs[names.MOVIE_EMBEDDING]
        if self.config.retrieval_negatives == "catalog":
            loss = retrieval_loss.catalog_softmax_loss(
                queries, self.catalog_embeddings(), inputs[names.MOVIE_INDEX],
                temperature=self.retrieval_temperature)
            if not training:  # TFRS's task for the top-K metrics; its in-batch loss unused
                self.retrieval_task(queries, candidates, compute_metrics=True)
            return loss
        if training:
            return retrieval_loss.in_batch_softmax_loss(
                queries, candidates, temperature=self.retrieval_temperature,
                candidate_sampling_probability=self._sampling_probability(inputs),
                candidate_ids=candidate_ids)
        return self.retrieval_task(
            queries, candidates, compute_metrics=True,
            candidate_sampling_probability=self._sampling_probability(inputs),
            candidate_ids=candidate_ids)

    def _sampling_probability(self, inputs: Dict[str, tf.Tensor]) -> Optional[tf.Tensor]:
        """Each batch movie's share of the training examples (logQ correction), or None."""
        if self.movie_probabilities is None:
            return None
        return tf.gather(self.movie_probabilities, inputs[names.MOVIE_INDEX])

    def train_step(self, inputs):
        """As TFRS's, without the top-K metrics: not computed in training, they would log 0."""
        logs = self._global_logs(self._replica_train_step(inputs))
        return {name: value for name, value in logs.items()
                if not name.startswith(names.TOP_K_PREFIX)}

    def test_step(self, inputs):
        return self._global_logs(super().test_step(inputs))

    def _global_logs(self, logs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """TFRS's step logs over all replicas: metric results from their summed states, losses
        summed (each replica holds its share). Unchanged with one replica."""
        metrics = distribute.global_metric_results(self.metrics)
        losses = distribute.global_sum({name: value for name, value in logs.items()
                                        if name not in metrics})
        return {**losses, **metrics}

    def compute_loss(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        losses = self.task_losses(inputs, training=training)
        weights = {"rating": self.config.rating_weight, "retrieval": self.config.retrieval_weight,
                   "embedding_l2": self.config.embedding_l2,
                   "rating_factor_l2": self.config.rating_factor_l2,
                   "rating_bias_l2": self.config.rating_bias_l2}
        if self.head_only:
            weights.update(retrieval=0.0, embedding_l2=0.0)
        return tf.add_n([weights[task] * loss for task, loss in losses.items()
                         if weights[task] > 0])
