#!/usr/bin/env python3
"""The TFRS multitask tutorial's joint model, its code as the tutorial writes it: a check on
bench/notebook_baseline.py, the benchmark's denominator.

    python bench/notebook_verbatim.py --data path/to/ml-100k --json out.json

Everything from "Randomly shuffle data" to `model.evaluate` is the tutorial's code, statement for
statement, for its joint model (rating_weight=1.0, retrieval_weight=1.0): the unseeded
`train.shuffle(100_000)`, the module-level vocabularies the model class reads, the progress bar.
The one change is where the data comes from: `tfds.load('movielens/100k-ratings')` and
`100k-movies` need the network, so `tfds_like_load` builds datasets with the same elements
(TFDS's feature names and dtypes for the fields the tutorial selects) from the GroupLens files.
It times the same phases as the baseline (`imports`, `load`, `train`, `evaluate`) so that
bench/paired_notebooks.py can compare the two phase by phase; nothing else is added.
"""

import os
import sys
import time

_T0 = time.time()
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFRS needs Keras 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
from typing import Dict, Text  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

_T_IMPORTED = time.time()

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.notebook_baseline import load_grouplens  # noqa: E402


def tfds_like_load(path: str):
    """(ratings, movies) as `tfds.load('movielens/100k-ratings' / '100k-movies')` give them,
    for the features the tutorial reads: string ids and titles, float32 ratings."""
    user_ids, titles, user_ratings, movie_titles = load_grouplens(path)
    # NumPy's unicode arrays become tf.string tensors of UTF-8 bytes, as TFDS stores them.
    ratings = tf.data.Dataset.from_tensor_slices(
        {"movie_title": titles, "user_id": user_ids, "user_rating": user_ratings})
    movies = tf.data.Dataset.from_tensor_slices({"movie_title": movie_titles})
    return ratings, movies


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="GroupLens ml-100k folder or zip")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)

    t_load = time.time()
    ratings, movies = tfds_like_load(args.data)

    # --- The tutorial's code from here on. ---
    # Select the basic features.
    ratings = ratings.map(lambda x: {
        "movie_title": x["movie_title"],
        "user_id": x["user_id"],
        "user_rating": x["user_rating"],
    })
    movies = movies.map(lambda x: x["movie_title"])

    # Randomly shuffle data and split between train and test.
    tf.random.set_seed(42)
    shuffled = ratings.shuffle(100_000, seed=42, reshuffle_each_iteration=False)

    train = shuffled.take(80_000)
    test = shuffled.skip(80_000).take(20_000)

    movie_titles = movies.batch(1_000)
    user_ids = ratings.batch(1_000_000).map(lambda x: x["user_id"])

    unique_movie_titles = np.unique(np.concatenate(list(movie_titles)))
    unique_user_ids = np.unique(np.concatenate(list(user_ids)))
    load_seconds = time.time() - t_load

    class MovielensModel(tfrs.models.Model):

        def __init__(self, rating_weight: float, retrieval_weight: float) -> None:
            # We take the loss weights in the constructor: this allows us to instantiate
            # several model objects with different loss weights.

            super().__init__()

            embedding_dimension = 32

            # User and movie models.
            self.movie_model: tf.keras.layers.Layer = tf.keras.Sequential([
                tf.keras.layers.StringLookup(
                    vocabulary=unique_movie_titles, mask_token=None),
                tf.keras.layers.Embedding(len(unique_movie_titles) + 1, embedding_dimension)
            ])
            self.user_model: tf.keras.layers.Layer = tf.keras.Sequential([
                tf.keras.layers.StringLookup(
                    vocabulary=unique_user_ids, mask_token=None),
                tf.keras.layers.Embedding(len(unique_user_ids) + 1, embedding_dimension)
            ])

            # A small model to take in user and movie embeddings and predict ratings.
            # We can make this as complicated as we want as long as we output a scalar
            # as our prediction.
            self.rating_model = tf.keras.Sequential([
                tf.keras.layers.Dense(256, activation="relu"),
                tf.keras.layers.Dense(128, activation="relu"),
                tf.keras.layers.Dense(1),
            ])

            # The tasks.
            self.rating_task: tf.keras.layers.Layer = tfrs.tasks.Ranking(
                loss=tf.keras.losses.MeanSquaredError(),
                metrics=[tf.keras.metrics.RootMeanSquaredError()],
            )
            self.retrieval_task: tf.keras.layers.Layer = tfrs.tasks.Retrieval(
                metrics=tfrs.metrics.FactorizedTopK(
                    candidates=movies.batch(128).map(self.movie_model)
                )
            )

            # The loss weights.
            self.rating_weight = rating_weight
            self.retrieval_weight = retrieval_weight

        def call(self, features: Dict[Text, tf.Tensor]) -> tf.Tensor:
            # We pick out the user features and pass them into the user model.
            user_embeddings = self.user_model(features["user_id"])
            # And pick out the movie features and pass them into the movie model.
            movie_embeddings = self.movie_model(features["movie_title"])

            return (
                user_embeddings,
                movie_embeddings,
                # We apply the multi-layered rating model to a concatentation of
                # user and movie embeddings.
                self.rating_model(
                    tf.concat([user_embeddings, movie_embeddings], axis=1)
                ),
            )

        def compute_loss(self, features: Dict[Text, tf.Tensor], training=False) -> tf.Tensor:

            ratings = features.pop("user_rating")

            user_embeddings, movie_embeddings, rating_predictions = self(features)

            # We compute the loss for each task.
            rating_loss = self.rating_task(
                labels=ratings,
                predictions=rating_predictions,
            )
            retrieval_loss = self.retrieval_task(user_embeddings, movie_embeddings)

            # And combine them using the loss weights.
            return (self.rating_weight * rating_loss
                    + self.retrieval_weight * retrieval_loss)

    t_train = time.time()
    model = MovielensModel(rating_weight=1.0, retrieval_weight=1.0)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))

    cached_train = train.shuffle(100_000).batch(8192).cache()
    cached_test = test.batch(4096).cache()

    model.fit(cached_train, epochs=3)
    train_seconds = time.time() - t_train
    t_eval = time.time()
    metrics = model.evaluate(cached_test, return_dict=True)
    eval_seconds = time.time() - t_eval

    print(f"\nRetrieval top-100 accuracy: "
          f"{metrics['factorized_top_k/top_100_categorical_accuracy']:.3f}.")
    print(f"Ranking RMSE: {metrics['root_mean_squared_error']:.3f}.")
    # --- End of the tutorial's code. ---

    result = {
        "seconds": {"imports": round(_T_IMPORTED - _T0, 3), "load": round(load_seconds, 3),
                    "train": round(train_seconds, 3), "evaluate": round(eval_seconds, 3),
                    "train_evaluate": round(train_seconds + eval_seconds, 3),
                    "in_script_total": round(time.time() - _T0, 3)},
        "metrics": {name: float(value) for name, value in metrics.items()},
    }
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
