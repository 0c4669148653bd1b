"""The retrieval task's training loss: in-batch softmax, in log-sum-exp form.

TFRS's `Retrieval` task computes the same loss as a categorical cross-entropy against a
[B, B] identity label matrix: at the tutorial's batch of 8,192 that is a second 268 MB
matrix, and the loss and its gradient read it, the scores and their products several times.
The training step is dominated by these [B, B] passes (docs/benchmarks.md), so training uses
the equivalent form below, which touches only the scores:

    loss = sum_i ( logsumexp_j s'_ij - s'_ii )

where s' are the scores after TFRS's adjustments, applied in TFRS's order: the temperature,
the logQ sampling correction, accidental hits pushed to TFRS's MIN_FLOAT. Evaluation still
calls TFRS's task (it also updates the top-K metrics); tests hold the two losses equal.
"""

from typing import Optional

import numpy as np
import tensorflow as tf

# TFRS's stand-in for -inf (tensorflow_recommenders.layers.loss.MIN_FLOAT): finite, so an
# accidental hit's logit contributes exp(-huge) = 0 without inf - inf = NaN anywhere.
MIN_FLOAT = float(np.finfo(np.float32).min / 100.0)


def in_batch_softmax_loss(query_embeddings: tf.Tensor, candidate_embeddings: tf.Tensor,
                          temperature: Optional[float] = None,
                          candidate_sampling_probability: Optional[tf.Tensor] = None,
                          candidate_ids: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Scalar: the batch's summed in-batch softmax loss, as `tfrs.tasks.Retrieval` computes it.

    query_embeddings, candidate_embeddings: [B, dim], row i of each a positive pair; every
        other candidate of the batch is a negative for query i.
    temperature: divides the scores (None: 1).
    candidate_sampling_probability: [B] each candidate's sampling probability; log of it
        (clipped to [1e-6, 1]) is subtracted from its column (logQ correction).
    candidate_ids: [B] ids; given, a negative with the positive's id (an accidental hit)
        is removed from query i's softmax.
    """
    scores = tf.linalg.matmul(query_embeddings, candidate_embeddings, transpose_b=True)
    if temperature is not None:
        scores = scores / temperature
    if candidate_sampling_probability is not None:
        scores = scores - tf.math.log(
            tf.clip_by_value(candidate_sampling_probability, 1e-6, 1.0))[tf.newaxis, :]
    positives = tf.linalg.diag_part(scores)
    if candidate_ids is not None:
        ids = tf.reshape(candidate_ids, [-1])
        same_id = tf.equal(ids[:, tf.newaxis], ids[tf.newaxis, :])
        accidental = tf.logical_and(same_id, tf.logical_not(tf.cast(
            tf.eye(tf.shape(scores)[0], tf.shape(scores)[1]), tf.bool)))
        scores = scores + tf.cast(accidental, scores.dtype) * MIN_FLOAT
    return tf.reduce_sum(tf.reduce_logsumexp(scores, axis=1) - positives)


def catalog_softmax_loss(query_embeddings: tf.Tensor, catalog_embeddings: tf.Tensor,
                         positive_ids: tf.Tensor,
                         temperature: Optional[float] = None) -> tf.Tensor:
    """Scalar: the batch's summed softmax loss over the whole catalog.

    Every title is a negative for every query, once each, so the softmax is the one the
    catalog-wide top-K ranks by, with no sampling to correct: no logQ term, no accidental hits.
    Costs a [B, titles] score matrix a step: at 1,664 titles less than the in-batch one of a
    batch of 2,048; at 10,000 titles about that of a batch of 8,192.

    query_embeddings: [B, dim]; catalog_embeddings: [titles, dim], row t title index t;
    positive_ids: [B] each query's positive title index; temperature divides the scores.
    """
    scores = tf.linalg.matmul(query_embeddings, catalog_embeddings, transpose_b=True)
    if temperature is not None:
        scores = scores / temperature
    positives = tf.gather(scores, tf.reshape(positive_ids, [-1, 1]), axis=1, batch_dims=1)
    return tf.reduce_sum(tf.reduce_logsumexp(scores, axis=1) - tf.reshape(positives, [-1]))
