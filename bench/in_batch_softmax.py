"""What one training step's in-batch softmax costs, alone: the seed config's batch of 8,192.

    python bench/in_batch_softmax.py [--batch 8192] [--dim 32] [--steps 8]

Forward and backward of the [batch, batch] logits on random embeddings, three ways, each plain
(tf.function) and XLA-compiled: TFRS's loss (categorical cross-entropy against a dense
identity), the sparse cross-entropy it equals, and the three matmuls alone (the floor). Seconds
per step, after two warm-up steps.
"""

import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    queries = tf.Variable(tf.random.normal([args.batch, args.dim], seed=1))
    candidates = tf.Variable(tf.random.normal([args.batch, args.dim], seed=2))
    dense_loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum")

    def gradients(loss_of_logits):
        with tf.GradientTape() as tape:
            logits = tf.matmul(queries, candidates, transpose_b=True)
            loss = loss_of_logits(logits)
        return tape.gradient(loss, [queries, candidates])

    losses = {
        "dense identity (TFRS)": lambda s: dense_loss(tf.eye(args.batch), s),
        "sparse cross-entropy": lambda s: tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(tf.range(args.batch), s)),
        "matmuls only": tf.reduce_sum,
    }
    for name, loss in losses.items():
        for jit in (False, True):
            step = tf.function(lambda loss=loss: gradients(loss), jit_compile=jit)
            for _ in range(2):
                [g.numpy() for g in step()]
            started = time.perf_counter()
            for _ in range(args.steps):
                [g.numpy() for g in step()]
            seconds = (time.perf_counter() - started) / args.steps
            print(f"{name:24s} {'xla' if jit else 'graph':5s} {seconds:.3f} s/step", flush=True)


if __name__ == "__main__":
    main()
