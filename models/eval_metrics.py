"""Top-K accuracy from a rank: what TFMA computes for the retrieval task.

TFMA used to get each example's score for every catalog title from `serving_default`
([catalog] floats per example: 43 kB at 10.7k titles) and rank them in Python, which made
the Evaluator's cost grow with examples × titles. The exported model's `evaluate_examples`
signature ranks in its own graph (`catalog_rank`) and hands TFMA one number per example, the
rank of the example's own title; `TopKAccuracyFromRank` is the share of ranks below K.

Both follow Keras's SparseTopKCategoricalAccuracy (tf.math.in_top_k), so the figures are the
ones TFMA gave before: ties with the true title count in its favour, and an example whose
title is out of the vocabulary, or whose row has a non-finite score, is never a hit (so a
model with NaN scores gets 0, not 1).
"""

from typing import Optional

import numpy as np
import tensorflow as tf


def catalog_rank(scores: tf.Tensor, title_index: tf.Tensor) -> tf.Tensor:
    """scores [B, catalog], title_index [B] (or [B, 1]) → float32 [B]: how many titles score
    strictly above the example's own (0 = best); +inf when it can never be a hit, whatever K."""
    num_titles = tf.shape(scores, out_type=tf.int64)[1]
    index = tf.cast(tf.reshape(title_index, [-1]), tf.int64)
    known = (index >= 0) & (index < num_titles)
    own = tf.gather(scores, tf.where(known, index, tf.zeros_like(index)), batch_dims=1)
    above = tf.reduce_sum(tf.cast(scores > own[:, None], tf.int64), axis=1)
    valid = known & tf.reduce_all(tf.math.is_finite(scores), axis=1)
    return tf.where(valid, tf.cast(above, tf.float32), tf.constant(np.inf, tf.float32))


class TopKAccuracyFromRank(tf.keras.metrics.Mean):
    """The (weighted) share of examples whose predicted rank is below `k`; y_true is unused
    (the rank was computed against it in the model)."""

    def __init__(self, k: int, name: Optional[str] = None, dtype=None) -> None:
        super().__init__(name=name or f"top_{k}_accuracy", dtype=dtype)
        self.k = k

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = tf.cast(tf.reshape(y_pred, [-1]) < self.k, self.dtype)
        if sample_weight is not None:
            sample_weight = tf.reshape(sample_weight, [-1])
        return super().update_state(hits, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "k": self.k}
