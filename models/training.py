"""Fitting a model from in-memory columns: shared by the Trainer's run_fn and experiments/,
so a sweep trains exactly what the pipeline trains."""

import dataclasses
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf

from models import distribute, features
from models.data import Columns, to_dataset, training_splits
from models.evaluation import user_recall_at_k
from models.hparams import EARLY_STOPPING_MONITORS, TrainingConfig
from models.model import RMSE_METRIC, TOP_100_METRIC, MovieLensModel, make_optimizer

# Keras's log name of each early-stopping monitor (hparams.EARLY_STOPPING_MONITORS).
VALIDATION_LOGS = {"loss": "val_loss", "rmse": f"val_{RMSE_METRIC}",
                   "top_100": f"val_{TOP_100_METRIC}"}


@dataclasses.dataclass
class FitResult:
    model: MovieLensModel
    epochs_trained: int
    best_epoch: Optional[int]  # 1-based epoch whose weights were kept (early stopping)
    history: Dict[str, List[float]]
    fit_examples: int
    validation_examples: int
    rated_fit_examples: int


def rated_mean(columns: Columns) -> float:
    """Mean rating of the rated examples (the rating head's offset with rating_biases)."""
    mask = columns[features.RATING_MASK].numpy()
    labels = columns[features.RATING_LABEL].numpy()
    return float((labels * mask).sum() / max(mask.sum(), 1.0))


def movie_probabilities(columns: Columns, num_movies: int) -> np.ndarray:
    """[num_movies + 1]: each movie's share of the examples (floored at one example)."""
    counts = np.bincount(columns[features.MOVIE_INDEX].numpy(),
                         minlength=num_movies + features.NUM_OOV_BUCKETS).astype(np.float64)
    return np.maximum(counts, 1.0) / max(counts.sum(), 1.0)


def build_model(config: TrainingConfig, num_users: int, num_movies: int,
                fit_columns: Optional[Columns] = None) -> MovieLensModel:
    """A compiled model; seeds TF from the config first. Data-derived constants (mean rating,
    movie frequencies) come from the examples it will be fitted on."""
    tf.keras.utils.set_random_seed(config.seed)
    model = MovieLensModel(
        config, num_users=num_users, num_movies=num_movies,
        rating_mean=rated_mean(fit_columns) if fit_columns is not None else 0.0,
        movie_probabilities=(movie_probabilities(fit_columns, num_movies)
                             if fit_columns is not None else None))
    model.compile(optimizer=make_optimizer(config))
    return model


def fit(config: TrainingConfig, train: Columns, num_users: int, num_movies: int,
        callbacks: Optional[List[tf.keras.callbacks.Callback]] = None, verbose: int = 2
        ) -> FitResult:
    """Trains on the train split (minus the validation carve-out), early-stopping if set."""
    fit_columns, validation = training_splits(train, config)
    size = lambda columns: int(tf.shape(columns[features.USER_INDEX])[0])  # noqa: E731
    model = build_model(config, num_users, num_movies, fit_columns)
    callbacks = list(callbacks or [])
    stopper = None
    if config.early_stopping_patience:
        stopper = tf.keras.callbacks.EarlyStopping(
            monitor=VALIDATION_LOGS[config.early_stopping_monitor],
            mode=EARLY_STOPPING_MONITORS[config.early_stopping_monitor],
            patience=config.early_stopping_patience, restore_best_weights=True)
        callbacks.append(stopper)
    validation_input = distribute.Input(None, None)
    if size(validation):
        validation_input = distribute.distribute_dataset(
            lambda batch: to_dataset(validation, batch, False, config.seed),
            config.eval_batch_size, size(validation), model.distribute_strategy)
    fit_input = distribute.distribute_dataset(
        lambda batch: to_dataset(fit_columns, batch, True, config.seed), config.train_batch_size,
        size(fit_columns), model.distribute_strategy)
    history = model.fit(fit_input.data, steps_per_epoch=fit_input.steps, epochs=config.epochs,
                        validation_data=validation_input.data,
                        validation_steps=validation_input.steps,
                        callbacks=callbacks, verbose=verbose).history
    epochs_trained = len(next(iter(history.values()))) if history else 0
    return FitResult(
        model=model, epochs_trained=epochs_trained,
        best_epoch=stopper.best_epoch + 1 if stopper is not None else None,
        history={name: [float(v) for v in values] for name, values in history.items()},
        fit_examples=size(fit_columns), validation_examples=size(validation),
        rated_fit_examples=int(fit_columns[features.RATING_MASK].numpy().sum()))


def all_user_scores(model: MovieLensModel, num_users: int) -> np.ndarray:
    """[num_users + 1, num_movies]: every user's (and the OOV row's) retrieval scores."""
    users = model.user_tower(tf.range(num_users + features.NUM_OOV_BUCKETS, dtype=tf.int64))
    return tf.linalg.matmul(users, model.catalog_embeddings(), transpose_b=True).numpy()


def evaluate(model: MovieLensModel, config: TrainingConfig, train: Columns, evaluation: Columns,
             num_users: int) -> Dict[str, Any]:
    """Keras's metrics on `evaluation` (masked RMSE, catalog top-K) and per-user Recall@K with
    the titles each user rated in `train` removed."""
    data = distribute.distribute_dataset(
        lambda batch: to_dataset(evaluation, batch, False, config.seed), config.eval_batch_size,
        int(tf.shape(evaluation[features.USER_INDEX])[0]), model.distribute_strategy)
    metrics = model.evaluate(data.data, steps=data.steps, return_dict=True, verbose=0)
    metrics = {name: float(value) for name, value in metrics.items()}
    if config.recall_ks:
        metrics.update(user_recall_at_k(
            all_user_scores(model, num_users), {k: v.numpy() for k, v in train.items()},
            {k: v.numpy() for k, v in evaluation.items()}, config.recall_ks))
    return metrics
