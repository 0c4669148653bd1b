"""Training steps per second with and without XLA (TrainingConfig.jit_compile).

    python bench/train_step_xla.py --rows 82000 --users 6000 --movies 3700

Each setting trains the pipeline's model (models/training.py, batch 8192, 3 epochs) on the
same random columns in a fresh process, one after the other, with TF's op determinism on as
in the Trainer; prints each epoch's seconds (the first includes tracing and compiling), the
last epoch's seconds per step, the final loss, and the ratio of the last epochs.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import tensorflow as tf
import names
from models import training
from models.data import to_dataset
from models.hparams import TrainingConfig
from models.keras_autograph import skip_keras_conversion

rows, users, movies, jit = {rows}, {users}, {movies}, {jit}
rng = np.random.default_rng(0)
columns = {{names.USER_INDEX: tf.constant(rng.integers(0, users, rows), tf.int64),
           names.MOVIE_INDEX: tf.constant(rng.integers(0, movies, rows), tf.int64),
           names.RATING_LABEL: tf.constant(rng.integers(1, 6, rows).astype(np.float32)),
           names.RATING_MASK: tf.ones([rows], tf.float32)}}
tf.config.experimental.enable_op_determinism()
skip_keras_conversion()
config = TrainingConfig(epochs=3, jit_compile=jit)
model = training.build_model(config, users, movies, columns)
seconds = []

class Timer(tf.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds.append(time.perf_counter() - self.start)
        self.loss = logs["loss"]

timer = Timer()
steps = rows // config.train_batch_size
model.fit(to_dataset(columns, config.train_batch_size, True, config.seed).repeat(),
          steps_per_epoch=steps, epochs=config.epochs, verbose=0, callbacks=[timer])
print(json.dumps({{"jit_compile": jit, "epoch_seconds": [round(s, 2) for s in seconds],
                  "seconds_per_step": round(seconds[-1] / steps, 3), "loss": timer.loss}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=82_000)
    parser.add_argument("--users", type=int, default=6_000)
    parser.add_argument("--movies", type=int, default=3_700)
    args = parser.parse_args()
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    results = {}
    for jit in (False, True):
        code = _CHILD.format(root=ROOT, rows=args.rows, users=args.users, movies=args.movies,
                             jit=jit)
        output = subprocess.run([sys.executable, "-c", code], check=True, env=env,
                                capture_output=True, text=True).stdout
        results[jit] = json.loads(output.strip().splitlines()[-1])
        print(json.dumps(results[jit]), flush=True)
    ratio = results[False]["seconds_per_step"] / results[True]["seconds_per_step"]
    print(f"XLA: {ratio:.2f}x the steps per second of the last epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
