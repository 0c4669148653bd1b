"""What one training step's in-batch softmax costs, alone: the seed config's batch of 8,192.

    python bench/in_batch_softmax.py [--batch 8192] [--dim 32] [--steps 8] [--onednn 0|1]

Forward and backward of the [batch, batch] logits on random embeddings, four ways, each plain
(tf.function) and XLA-compiled: TFRS's loss (categorical cross-entropy against a dense
identity), the sparse cross-entropy it equals, the log-sum-exp form the Trainer uses
(models/retrieval_loss.py), and the three matmuls alone (the floor). Seconds per step, after two
warm-up steps. `--onednn` sets TF_ENABLE_ONEDNN_OPTS for this process (default: the project's,
names.TF_ENVIRONMENT); run it both ways to see what oneDNN's kernels give on this CPU.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import names  # noqa: E402  (imports nothing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--onednn", choices=["0", "1"],
                        default=names.TF_ENVIRONMENT["TF_ENABLE_ONEDNN_OPTS"])
    args = parser.parse_args()
    os.environ.update({**names.TF_ENVIRONMENT, "TF_ENABLE_ONEDNN_OPTS": args.onednn})
    import tensorflow as tf  # after the environment: TensorFlow reads it once, at import

    from models.retrieval_loss import in_batch_softmax_loss

    queries = tf.Variable(tf.random.normal([args.batch, args.dim], seed=1))
    candidates = tf.Variable(tf.random.normal([args.batch, args.dim], seed=2))
    dense_loss = tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum")

    def logits():
        return tf.matmul(queries, candidates, transpose_b=True)

    losses = {
        "dense identity (TFRS)": lambda: dense_loss(tf.eye(args.batch), logits()),
        "sparse cross-entropy": lambda: tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(tf.range(args.batch), logits())),
        "log-sum-exp (Trainer)": lambda: in_batch_softmax_loss(queries, candidates),
        "matmuls only": lambda: tf.reduce_sum(logits()),
    }
    print(f"TF_ENABLE_ONEDNN_OPTS={args.onednn}, batch {args.batch}, dim {args.dim}")
    for name, loss in losses.items():
        for jit in (False, True):
            def gradients(loss=loss):
                with tf.GradientTape() as tape:
                    value = loss()
                return tape.gradient(value, [queries, candidates])

            step = tf.function(gradients, jit_compile=jit)
            for _ in range(2):
                [g.numpy() for g in step()]
            started = time.perf_counter()
            for _ in range(args.steps):
                [g.numpy() for g in step()]
            seconds = (time.perf_counter() - started) / args.steps
            print(f"{name:24s} {'xla' if jit else 'graph':5s} {seconds:.3f} s/step", flush=True)


if __name__ == "__main__":
    main()
