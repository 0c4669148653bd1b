"""Retrieve, then rank: the retrieval task's best titles, ordered by the rating head.

The multi-task model has two heads: retrieval scores every title cheaply (a dot product), the
rating head predicts the user's stars for one title. Serving (`recommend_ranked`) and the
Trainer's measurement of it both order candidates with `predicted_ratings`, so what is
measured is what serves.
"""

from typing import Callable, Tuple

import numpy as np
import tensorflow as tf

Layer = Callable[..., tf.Tensor]


def predicted_ratings(user_tower: Layer, movie_tower: Layer, rating_head: Layer,
                      users: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
    """The rating head's prediction for each user [B] and each of their candidates [B, N]
    (vocabulary indices): [B, N] float32."""
    rows, width = tf.shape(candidates)[0], tf.shape(candidates)[1]
    flat_users = tf.repeat(tf.cast(users, tf.int64), width)
    flat_movies = tf.reshape(tf.cast(candidates, tf.int64), [-1])
    ratings = rating_head((user_tower(flat_users), movie_tower(flat_movies), flat_users,
                           flat_movies))
    return tf.reshape(ratings, [rows, width])


def rerank(user_tower: Layer, movie_tower: Layer, rating_head: Layer, users: tf.Tensor,
           scores: tf.Tensor, depth: int, k: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Each user's `depth` best titles by retrieval `scores` [B, catalog] (-inf: a title never
    to recommend, e.g. excluded or already rated), the k best of those by predicted rating:
    (catalog indices [B, k], predicted ratings [B, k]). A -inf title stays below every other
    (it is a candidate only when fewer than `depth` are left); ties keep the retrieval order."""
    retrieved = tf.math.top_k(scores, k=depth)
    ratings = predicted_ratings(user_tower, movie_tower, rating_head, users, retrieved.indices)
    ratings = tf.where(retrieved.values > -np.inf, ratings, tf.constant(-np.inf, ratings.dtype))
    best = tf.math.top_k(ratings, k=k)
    return tf.gather(retrieved.indices, best.indices, batch_dims=1), best.values
