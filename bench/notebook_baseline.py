#!/usr/bin/env python3
"""The TFRS multitask tutorial's code path as one plain script: the benchmark's baseline.

    python bench/notebook_baseline.py --data ../shared/data/ml-100k --json out.json

What it does is the notebook's flow (reference: the TFRS "multitask" tutorial), with the data
read from the GroupLens files instead of TFDS:
- ratings (`user_id`, `movie_title`, `user_rating`) and the movies' titles are read into memory
  — the same values `tfds.load('movielens/100k-ratings')` / `100k-movies` give (string ids,
  latin-1 titles); TFDS's row order differs, so the split's rows differ too;
- `tf.random.set_seed(42)`; shuffle all ratings (seed 42, once), take 80,000 / next 20,000;
- vocabularies with `np.unique` over the titles and the user ids; StringLookup + Embedding
  towers (dim 32), the rating MLP (256-128-1), Ranking (MSE, RMSE) and Retrieval with
  FactorizedTopK over every movie row (`movies.batch(128).map(movie_model)`), **metrics on in
  training too**, as the notebook has them;
- Adagrad(0.1), `train.shuffle(100_000).batch(8192).cache()`, 3 epochs, `test.batch(4096)`.

The training shuffle is seeded (the notebook's is not) so that runs are comparable. Only
TensorFlow and TFRS are imported (the notebook also imports TFDS, which we do not need: our
baseline's import time is therefore a little shorter than the notebook's).

Prints one JSON object (and writes it with --json): phase wall times in seconds (`imports`:
interpreter start → TF/TFRS imported; `load`: files → tf.data + vocabularies; `train`:
model built + `fit`; `evaluate`; `epochs`: each epoch's wall time from a callback), throughput
and the metrics of `model.evaluate`.
"""

import os
import sys
import time

_T0 = time.time()
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFRS needs Keras 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

_T_IMPORTED = time.time()

# The grouplens reader is pure Python (no TFX); imported after timing the framework imports.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from movielens import grouplens  # noqa: E402


def load_grouplens(path: str):
    """(user ids, movie titles, ratings) of every rating, and every movie row's title.

    Like TFDS's movielens/100k-ratings: string user ids, the title of the rated movie id.
    Malformed lines are an error (the benchmark's data is clean).
    """
    layout = grouplens.locate(path)
    movies, errors = grouplens.read_movies(layout)
    if errors:
        raise ValueError(f"{len(errors)} malformed movie lines, first: {errors[0]}")
    users, titles, ratings = [], [], []
    for _, rating in grouplens.read_ratings(layout):
        if isinstance(rating, grouplens.MalformedLine):
            raise ValueError(str(rating))
        users.append(rating.user_id)
        titles.append(movies[rating.movie_id].title)
        ratings.append(rating.rating)
    movie_titles = [movie.title for movie in movies.values()]
    return (np.array(users), np.array(titles), np.array(ratings, dtype=np.float32),
            np.array(movie_titles))


class MovielensModel(tfrs.models.Model):
    """The tutorial's model, verbatim but for the vocabularies and candidates passed in."""

    def __init__(self, rating_weight: float, retrieval_weight: float, unique_user_ids,
                 unique_movie_titles, movies: tf.data.Dataset, embedding_dimension: int) -> None:
        super().__init__()
        self.movie_model = tf.keras.Sequential([
            tf.keras.layers.StringLookup(vocabulary=unique_movie_titles, mask_token=None),
            tf.keras.layers.Embedding(len(unique_movie_titles) + 1, embedding_dimension)])
        self.user_model = tf.keras.Sequential([
            tf.keras.layers.StringLookup(vocabulary=unique_user_ids, mask_token=None),
            tf.keras.layers.Embedding(len(unique_user_ids) + 1, embedding_dimension)])
        self.rating_model = tf.keras.Sequential([
            tf.keras.layers.Dense(256, activation="relu"),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dense(1)])
        self.rating_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError()])
        self.retrieval_task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=movies.batch(128).map(self.movie_model)))
        self.rating_weight = rating_weight
        self.retrieval_weight = retrieval_weight

    def call(self, features):
        user_embeddings = self.user_model(features["user_id"])
        movie_embeddings = self.movie_model(features["movie_title"])
        return (user_embeddings, movie_embeddings,
                self.rating_model(tf.concat([user_embeddings, movie_embeddings], axis=1)))

    def compute_loss(self, features, training=False):
        ratings = features.pop("user_rating")
        user_embeddings, movie_embeddings, rating_predictions = self(features)
        rating_loss = self.rating_task(labels=ratings, predictions=rating_predictions)
        retrieval_loss = self.retrieval_task(user_embeddings, movie_embeddings)
        return self.rating_weight * rating_loss + self.retrieval_weight * retrieval_loss


class EpochTimer(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def run(args: argparse.Namespace) -> dict:
    t_load = time.time()
    user_ids, titles, user_ratings, movie_titles = load_grouplens(args.data)
    ratings = tf.data.Dataset.from_tensor_slices(
        {"movie_title": titles, "user_id": user_ids, "user_rating": user_ratings})
    movies = tf.data.Dataset.from_tensor_slices(movie_titles)
    num_ratings = len(user_ids)
    tf.random.set_seed(args.seed)
    shuffled = ratings.shuffle(num_ratings, seed=args.seed, reshuffle_each_iteration=False)
    train_size = int(round(num_ratings * args.train_fraction))
    train = shuffled.take(train_size)
    test = shuffled.skip(train_size).take(num_ratings - train_size)
    unique_movie_titles = np.unique(np.concatenate(list(movies.batch(1_000))))
    unique_user_ids = np.unique(np.concatenate(
        list(ratings.batch(1_000_000).map(lambda x: x["user_id"]))))
    load_seconds = time.time() - t_load

    t_train = time.time()
    model = MovielensModel(args.rating_weight, args.retrieval_weight, unique_user_ids,
                           unique_movie_titles, movies, args.embedding_dim)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(args.learning_rate))
    cached_train = train.shuffle(100_000, seed=args.seed).batch(args.batch_size).cache()
    cached_test = test.batch(args.eval_batch_size).cache()
    timer = EpochTimer()
    model.fit(cached_train, epochs=args.epochs, callbacks=[timer], verbose=args.verbose)
    train_seconds = time.time() - t_train

    t_eval = time.time()
    metrics = model.evaluate(cached_test, return_dict=True, verbose=args.verbose)
    eval_seconds = time.time() - t_eval
    steady = timer.seconds[1:] or timer.seconds
    return {
        "config": {"rating_weight": args.rating_weight, "retrieval_weight": args.retrieval_weight,
                   "embedding_dim": args.embedding_dim, "learning_rate": args.learning_rate,
                   "batch_size": args.batch_size, "eval_batch_size": args.eval_batch_size,
                   "epochs": args.epochs, "seed": args.seed, "data": os.path.abspath(args.data)},
        "num_ratings": num_ratings, "train_examples": train_size,
        "eval_examples": num_ratings - train_size,
        "num_users": int(len(unique_user_ids)), "num_titles": int(len(unique_movie_titles)),
        "seconds": {"imports": round(_T_IMPORTED - _T0, 3), "load": round(load_seconds, 3),
                    "train": round(train_seconds, 3), "evaluate": round(eval_seconds, 3),
                    "train_evaluate": round(train_seconds + eval_seconds, 3),
                    "in_script_total": round(time.time() - _T0, 3),
                    "epochs": [round(s, 3) for s in timer.seconds]},
        # Examples per second of the epochs after the first (the first includes tracing).
        "train_examples_per_second": round(train_size / float(np.median(steady)), 1),
        "metrics": {name: float(value) for name, value in metrics.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="GroupLens ml-100k/ml-1m folder or zip")
    parser.add_argument("--rating-weight", type=float, default=1.0)
    parser.add_argument("--retrieval-weight", type=float, default=1.0)
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--eval-batch-size", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-fraction", type=float, default=0.8,
                        help="80,000 / 20,000 on ML-100K, as the notebook's take/skip")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit/evaluate verbosity")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
