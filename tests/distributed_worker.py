"""One training process of tests/test_distribute.py:
`python -m tests.distributed_worker OUT RUN_DIR CONFIG[,CONFIG...]` (names of CONFIGS).

It trains the Trainer's model through `run_fn.train_and_report` (what `run_fn` runs after loading
the Transform output) on synthetic transformed columns, under the strategy its TF_CONFIG
describes, writing the reports to `distribute.output_dir(RUN_DIR)` like `run_fn` does. Then it
writes what the test compares to its own OUT folder: the reports it produced, its final weights,
and the directory it wrote to.
"""

import dataclasses
import json
import os
import sys
import time
from typing import Dict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bootstrap  # noqa: E402  (the standard library only)

bootstrap.set_tf_environment()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import names  # noqa: E402
from models import distribute  # noqa: E402
from models.hparams import TrainingConfig  # noqa: E402

NUM_USERS, NUM_MOVIES = 120, 60
# Global batches; 2 replicas get 128 each. 3 epochs of 2,400 examples = 30 optimizer steps.
JOINT = TrainingConfig(embedding_dim=8, rating_layers=(32,), epochs=3, train_batch_size=256,
                       eval_batch_size=256, learning_rate=0.1, top_ks=(5, 10),
                       recall_ks=(5, 10), seed=7)
# Rating only, plain SGD: no in-batch negatives and no adaptive step size, so 1 and 2 workers
# must agree up to float summation order, and a gradient scaled by the number of replicas shows.
RATING_ONLY = dataclasses.replace(JOINT, retrieval_weight=0.0, optimizer="sgd",
                                  learning_rate=0.05)
CONFIGS = {"joint": JOINT, "rating_only": RATING_ONLY}


def synthetic_columns(num_examples: int, seed: int) -> Dict[str, tf.Tensor]:
    """Transformed columns with structure to learn: users and movies fall into 4 taste groups;
    users mostly watch, and rate higher, movies of their group; a quarter of ratings missing."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, NUM_USERS, num_examples)
    same_group = rng.random(num_examples) < 0.8
    movies = np.where(same_group, (users % 4) + 4 * rng.integers(0, NUM_MOVIES // 4, num_examples),
                      rng.integers(0, NUM_MOVIES, num_examples))
    ratings = np.clip(np.where(movies % 4 == users % 4, 4.2, 2.3)
                      + rng.normal(0, 0.7, num_examples), 1, 5).round()
    mask = (rng.random(num_examples) < 0.75).astype(np.float32)
    return {names.USER_INDEX: tf.constant(users, tf.int64),
            names.MOVIE_INDEX: tf.constant(movies, tf.int64),
            names.RATING_LABEL: tf.constant(ratings * mask, tf.float32),
            names.RATING_MASK: tf.constant(mask)}


def _read(directory: str, name: str):
    with open(os.path.join(directory, name)) as f:
        return json.load(f)


def train(name: str, config: TrainingConfig, strategy, train_columns, eval_columns, out: str,
          run_dir: str) -> None:
    """One config through run_fn.train_and_report; its reports and weights under OUT/name."""
    from models import run_fn

    started = time.monotonic()
    with distribute.output_dir(os.path.join(run_dir, name), strategy) as model_run_dir:
        os.makedirs(model_run_dir, exist_ok=True)
        model = run_fn.train_and_report(config, train_columns, eval_columns, NUM_USERS,
                                        NUM_MOVIES, model_run_dir, strategy)
        report = {"model_run_dir": model_run_dir,
                  "is_chief": distribute.strategy_is_chief(strategy),
                  "num_replicas": strategy.num_replicas_in_sync,
                  "strategy": type(strategy).__name__,
                  "keras": _read(model_run_dir, names.KERAS_METRICS_FILE),
                  "recall": _read(model_run_dir, names.RANKING_METRICS_FILE),
                  "log": _read(model_run_dir, names.TRAINING_LOG_FILE),
                  "seconds": time.monotonic() - started}
    os.makedirs(os.path.join(out, name), exist_ok=True)
    np.savez(os.path.join(out, name, "weights.npz"), *model.get_weights())
    with open(os.path.join(out, name, "report.json"), "w") as f:
        json.dump(report, f, indent=2)


def main(out: str, run_dir: str, config_names: str) -> None:
    # run_fn's imports, then the strategy before any TF op (MWMS must), then the data.
    from models import run_fn  # noqa: F401

    strategy = distribute.strategy_from_tf_config()
    train_columns = synthetic_columns(2400, seed=1)
    eval_columns = synthetic_columns(600, seed=2)
    tf.config.experimental.enable_op_determinism()
    for name in config_names.split(","):
        train(name, CONFIGS[name], strategy, train_columns, eval_columns, out, run_dir)


if __name__ == "__main__":
    main(*sys.argv[1:4])
