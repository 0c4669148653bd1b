"""The Trainer's input pipeline alone: peak RSS and seconds per epoch, a shuffle buffer as
large as the split against the seeded per-epoch permutation.

    python bench/trainer_input.py new 8000000 1     # one process per measurement
    python bench/trainer_input.py old 8000000 1

`new` is `models.data.to_dataset` (columns + a seeded per-epoch permutation gathered per
batch); `old` is the input of commit 5618c8e, kept here as the baseline it is measured against
(`from_tensor_slices` + a shuffle buffer as large as the split). Columns shaped like the
transformed features at 10M ratings (70k users, 10.7k titles); batch 8192, no model.
Prints one JSON line.
"""

import json
import os
import resource
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import names  # noqa: E402
from models.data import to_dataset  # noqa: E402


def old_to_dataset(columns, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:
        size = int(tf.shape(next(iter(columns.values())))[0])
        dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def main() -> int:
    mode, rows, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    columns = {
        names.USER_INDEX: tf.constant(rng.integers(0, 70_000, rows), tf.int64),
        names.MOVIE_INDEX: tf.constant(rng.integers(0, 10_700, rows), tf.int64),
        names.RATING_LABEL: tf.constant(rng.integers(1, 6, rows), tf.float32),
        names.RATING_MASK: tf.ones([rows]),
    }
    dataset = (old_to_dataset if mode == "old" else to_dataset)(columns, 8192, True, 42)
    seconds = []
    for _ in range(epochs):
        started, seen = time.perf_counter(), 0
        for batch in dataset:
            seen += int(batch[names.USER_INDEX].shape[0])
        seconds.append(round(time.perf_counter() - started, 2))
        assert seen == rows
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps({"mode": mode, "rows": rows, "peak_rss_gb": round(peak_gb, 3),
                      "epoch_seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
