"""The multi-task TFRS model: shared user and movie towers, a rating head and retrieval.

Inputs are the transformed features (vocabulary indices), so the towers are plain embedding
tables; the StringLookup part of each tower is the Transform graph, which the exported model
carries in front of them (see models/export.py).
"""

from typing import Dict

import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import features
from models.hparams import TrainingConfig


TOP_K_PREFIX = "factorized_top_k/"  # FactorizedTopK's metric names


def make_optimizer(config: TrainingConfig) -> tf.keras.optimizers.Optimizer:
    optimizers = {
        "adagrad": tf.keras.optimizers.Adagrad,
        "adam": tf.keras.optimizers.Adam,
        "sgd": tf.keras.optimizers.SGD,
    }
    return optimizers[config.optimizer](learning_rate=config.learning_rate)


class MovieLensModel(tfrs.Model):
    """loss = rating_weight * MSE(rating) + retrieval_weight * in-batch softmax(retrieval).

    A task whose weight is 0 still reports its metrics but adds nothing to the loss, so it
    receives no gradient (0 * loss would still propagate NaN/inf from a diverging head).
    """

    def __init__(self, config: TrainingConfig, num_users: int, num_movies: int) -> None:
        super().__init__()
        self.config = config
        self.num_movies = num_movies
        self.user_tower = tf.keras.layers.Embedding(
            num_users + features.NUM_OOV_BUCKETS, config.embedding_dim, name="user_embedding")
        self.movie_tower = tf.keras.layers.Embedding(
            num_movies + features.NUM_OOV_BUCKETS, config.embedding_dim, name="movie_embedding")
        self.rating_head = tf.keras.Sequential(
            [tf.keras.layers.Dense(units, activation="relu") for units in config.rating_layers]
            + [tf.keras.layers.Dense(1)], name="rating_head")
        self.rating_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError()],
        )
        # Candidates: every catalog title (vocabulary indices 0..num_movies-1, not the OOV row).
        catalog = tf.data.Dataset.range(num_movies).batch(1024).map(self.movie_tower)
        self.retrieval_task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=catalog, ks=config.top_ks))

    def catalog_embeddings(self) -> tf.Tensor:
        """[num_movies, dim]: the movie tower applied to every catalog title."""
        return self.movie_tower(tf.range(self.num_movies, dtype=tf.int64))

    def call(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        user_embeddings = self.user_tower(inputs[features.USER_INDEX])
        movie_embeddings = self.movie_tower(inputs[features.MOVIE_INDEX])
        rating = self.rating_head(tf.concat([user_embeddings, movie_embeddings], axis=1))
        return {"user_embedding": user_embeddings, "movie_embedding": movie_embeddings,
                "rating": rating}

    def task_losses(self, inputs: Dict[str, tf.Tensor],
                    training: bool = False) -> Dict[str, tf.Tensor]:
        """Each task's unweighted loss; also updates the tasks' metrics."""
        outputs = self(inputs)
        labels = tf.expand_dims(inputs[features.RATING_LABEL], axis=1)
        return {
            "rating": self.rating_task(labels=labels, predictions=outputs["rating"]),
            # Top-K over the whole catalog is far costlier than the step itself: only in evaluation.
            "retrieval": self.retrieval_task(
                outputs["user_embedding"], outputs["movie_embedding"],
                compute_metrics=not training),
        }

    def train_step(self, inputs):
        """As TFRS's, without the top-K metrics: not computed in training, they would log 0."""
        logs = super().train_step(inputs)
        return {name: value for name, value in logs.items() if not name.startswith(TOP_K_PREFIX)}

    def compute_loss(self, inputs: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        losses = self.task_losses(inputs, training=training)
        weights = {"rating": self.config.rating_weight, "retrieval": self.config.retrieval_weight}
        return tf.add_n([weights[task] * loss for task, loss in losses.items() if weights[task] > 0])
