"""Fitting a model from in-memory columns: shared by the Trainer's run_fn and experiments/,
so a sweep trains exactly what the pipeline trains."""

import contextlib
import dataclasses
import logging
import resource
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

import names
from models import distribute, side_features, towers
from models.data import (
    Columns,
    drop_user_ids,
    drop_users_entirely,
    sample_rows,
    to_dataset,
    training_splits,
    with_history_columns,
)
from models.evaluation import (
    ALL_USERS,
    ReorderFn,
    ScoreFn,
    fold_in_protocol,
    grouped_ranking_metrics,
    popularity_scorer,
    rank_within,
    recent_popularity_scorer,
)
from models.hparams import EARLY_STOPPING_MONITORS, ConfigError, TrainingConfig
from models.keras_autograph import skip_keras_conversion
from models.model import MovieLensModel, make_optimizer
from models.rerank import rerank
from models.side_features import SideFeatures
from models.warm_start import WarmStartReport, WarmStartSource, initialize
from models.weight_average import WeightAverage

# Eval rows Keras's evaluation scores against the whole catalog (FactorizedTopK): a seeded
# sample above this. Its cost grows with eval rows × titles (measured on 2 busy cores, 200k
# rows: 114 s against 3.7k titles, 269 s against 10.7k, so ~45 min for a 10M split's 2M rows)
# and it only cross-checks TFMA, which evaluates the whole eval split in the pipeline. 20k
# keeps ML-100K's 19,920 eval rows whole (25 s at 1M with 50k); the sample's
# standard error on a top-K accuracy is at most 0.0035.
KERAS_EVAL_MAX_ROWS = 20_000

# (user, title) pairs the rating head scores at once when the Trainer measures
# retrieve-then-rank: the ranking metrics' chunks hold ~16M / titles users, each with
# rerank_depth candidates (450k pairs at 3.7k titles: 1 GB of the MLP's activations at once).
RERANK_MAX_ROWS = 65_536

# Keras's log name of each early-stopping monitor (hparams.EARLY_STOPPING_MONITORS).
VALIDATION_LOGS = {"loss": "val_loss", "rmse": f"val_{names.RMSE_METRIC}",
                   "top_100": f"val_{names.TOP_100_METRIC}",
                   names.RMSE_MINUS_TOP_100: f"val_{names.RMSE_MINUS_TOP_100}"}


# Phase → {"seconds", "peak_rss_gb"}: how long each of the Trainer's phases took and the
# process's peak RSS when it ended (a phase that raised the peak shows it first).
Phases = Dict[str, Dict[str, float]]


def _peak_rss_gb() -> float:
    """This process's peak resident set size so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 3)


def _record(phase: str, seconds: float, phases: Optional[Phases]) -> None:
    record = {"seconds": round(seconds, 2), "peak_rss_gb": _peak_rss_gb()}
    logging.info("Trainer: %s took %.1f s (peak RSS so far %.2f GB)", phase, record["seconds"],
                 record["peak_rss_gb"])
    if phases is not None:
        phases[phase] = record


@contextlib.contextmanager
def timed(phase: str, phases: Optional[Phases] = None) -> Iterator[None]:
    """Logs how long `phase` took and the peak RSS after it (into `phases` too, if given):
    what the Trainer's time and memory go to, beside Keras's epochs."""
    started = time.monotonic()
    yield
    _record(phase, time.monotonic() - started, phases)


class EpochTimes(tf.keras.callbacks.Callback):
    """Each epoch's seconds into `phases` ("fit: epoch N"), and the first step's ("fit: first
    step"): tracing and XLA compilation, which the first epoch's time includes."""

    def __init__(self, phases: Optional[Phases]) -> None:
        super().__init__()
        # It reads no logs: without this, Keras would copy every step's logs to NumPy (a sync
        # with the device per step) because this callback has batch hooks.
        self._supports_tf_logs = True
        self._phases = phases
        self._epoch_started = self._step_started = 0.0
        self._first_step_done = False

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_started = time.monotonic()

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        if not self._first_step_done:
            self._step_started = time.monotonic()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if not self._first_step_done:
            self._first_step_done = True
            _record("fit: first step", time.monotonic() - self._step_started, self._phases)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        _record(f"fit: epoch {epoch + 1}", time.monotonic() - self._epoch_started, self._phases)


class RmseMinusTop100(tf.keras.callbacks.Callback):
    """Adds validation RMSE − validation top-100 accuracy to each epoch's logs, where the
    callbacks after it (early stopping, the history) read it."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None and {VALIDATION_LOGS["rmse"], VALIDATION_LOGS["top_100"]} <= set(logs):
            logs[VALIDATION_LOGS[names.RMSE_MINUS_TOP_100]] = (
                float(logs[VALIDATION_LOGS["rmse"]]) - float(logs[VALIDATION_LOGS["top_100"]]))


@dataclasses.dataclass
class FitResult:
    model: MovieLensModel
    epochs_trained: int
    best_epoch: Optional[int]  # 1-based epoch whose weights were kept (early stopping)
    history: Dict[str, List[float]]
    fit_examples: int
    validation_examples: int
    rated_fit_examples: int
    warm_start: WarmStartReport  # whether the model started from a base model's weights
    # With config.refit: `model` was retrained on the whole train split for `best_epoch`
    # epochs (fit_examples and rated_fit_examples are that run's; history holds the selection
    # run's, then the refit's under "refit_"-prefixed names).
    refitted: bool = False
    # With config.rating_head_epochs: the epochs of the rating head alone kept after the joint
    # ones (history under names.RATING_HEAD_HISTORY_PREFIX-prefixed names).
    rating_head_epochs: int = 0


def rated_mean(columns: Columns) -> float:
    """Mean rating of the rated examples (the rating head's offset with rating_biases)."""
    mask = columns[names.RATING_MASK].numpy()
    labels = columns[names.RATING_LABEL].numpy()
    return float((labels * mask).sum() / max(mask.sum(), 1.0))


def rating_range(columns: Columns) -> Tuple[float, float]:
    """(lowest, highest) rating of the rated examples (rating_clip's range)."""
    rated = columns[names.RATING_LABEL].numpy()[columns[names.RATING_MASK].numpy() > 0]
    if not rated.size:
        raise ConfigError("rating_clip needs rated examples to take the rating range from")
    return float(rated.min()), float(rated.max())


def movie_probabilities(columns: Columns, num_movies: int) -> np.ndarray:
    """[num_movies + 1]: each movie's share of the examples (floored at one example)."""
    counts = np.bincount(columns[names.MOVIE_INDEX].numpy(),
                         minlength=num_movies + names.NUM_OOV_BUCKETS).astype(np.float64)
    return np.maximum(counts, 1.0) / max(counts.sum(), 1.0)


# rating_history keeps a dense users x titles float32 table in the model: at most this many
# cells (512 MB; ML-1M's 6,040 x 3,706 is 22M, a 10M set's 70k x 10.7k would be 750M).
MAX_HISTORY_CELLS = 2**27


def user_histories(columns: Columns, num_users: int, num_movies: int) -> np.ndarray:
    """[num_users + 1, num_movies + 1] float32: row u has 1 / sqrt(n_u) at each of the n_u
    titles user u has in `columns` (SVD++'s normalized implicit feedback); the OOV user's row
    (ids dropped for the cold start, unknown users at serving) is all zeros."""
    rows, columns_ = num_users + names.NUM_OOV_BUCKETS, num_movies + names.NUM_OOV_BUCKETS
    if rows * columns_ > MAX_HISTORY_CELLS:
        raise ConfigError(
            f"rating_history needs a {rows:,} x {columns_:,} table of users' titles "
            f"({rows * columns_ * 4 / 2**30:.1f} GB), over its {MAX_HISTORY_CELLS * 4 / 2**30:.1f}"
            " GB limit: turn rating_history off for data this large")
    table = np.zeros((rows, columns_), np.float32)
    table[columns[names.USER_INDEX].numpy(), columns[names.MOVIE_INDEX].numpy()] = 1.0
    table[num_users] = 0.0
    counts = table.sum(axis=1, keepdims=True)
    return table / np.sqrt(np.maximum(counts, 1.0))


def fold_in_histories(columns: Columns, num_users: int, num_movies: int, length: int,
                      seed: int) -> np.ndarray:
    """[num_users + 1, length] int64: each user's latest `length` titles in `columns` (by
    names.RATING_TIMESTAMP when the columns have it; ties, or no time, in a seeded order),
    placed in a seeded random order, so that a prefix is a random part of the history;
    num_movies pads. Users without examples (the unknown user's row among them) are empty."""
    # Whose history an example is: its user's, also when an id dropout hid the user.
    users = np.asarray(columns.get(names.HISTORY_USER_INDEX, columns[names.USER_INDEX]),
                       np.int64)
    movies = np.asarray(columns[names.MOVIE_INDEX], np.int64)
    known = (users < num_users) & (movies < num_movies)
    users, movies = users[known], movies[known]
    times = (np.asarray(columns[names.RATING_TIMESTAMP], np.int64)[known]
             if names.RATING_TIMESTAMP in columns else np.zeros(len(users), np.int64))
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(users)), -times, users))  # per user, latest first
    users, movies = users[order], movies[order]
    latest = rank_within(users) < length
    users, movies = users[latest], movies[latest]
    order = np.lexsort((rng.random(len(users)), users))  # shuffled within each user
    users, movies = users[order], movies[order]
    position = rank_within(users)
    table = np.full((num_users + names.NUM_OOV_BUCKETS, length), num_movies, np.int64)
    table[users, position] = movies
    return table


def unknown_rows_for_untrained(model: MovieLensModel, fit_columns: Columns) -> int:
    """Gives every user the fit examples do not hold the unknown user's rows (id embedding,
    rating biases and factors): Transform's user vocabulary holds the eval split's users too,
    and their own rows were never trained (initializer values), while the unknown user's is
    trained by the id dropout. Returns how many users that was."""
    unknown = towers.id_embedding(model.user_tower).shape[0] - names.NUM_OOV_BUCKETS
    untrained = np.setdiff1d(np.arange(unknown),
                             np.asarray(fit_columns[names.USER_INDEX], np.int64))
    if not len(untrained):
        return 0
    for variable in model.id_keyed_variables()[names.USER_VOCABULARY]:
        # A whole-variable assign: a distributed (mirrored) variable has no scatter update.
        values = variable.numpy()
        values[untrained] = values[unknown]
        variable.assign(values)
    return len(untrained)


def build_model(config: TrainingConfig, num_users: int, num_movies: int,
                fit_columns: Optional[Columns] = None,
                side: Optional[SideFeatures] = None) -> MovieLensModel:
    """A compiled model; seeds TF from the config first. Data-derived constants (mean rating,
    movie frequencies) come from the examples it will be fitted on; the side features' tables
    from `side` (needed when the config uses side features)."""
    tf.keras.utils.set_random_seed(config.seed)
    model = MovieLensModel(
        config, num_users=num_users, num_movies=num_movies,
        rating_mean=rated_mean(fit_columns) if fit_columns is not None else 0.0,
        movie_probabilities=(movie_probabilities(fit_columns, num_movies)
                             if fit_columns is not None else None),
        side=side,
        user_histories=(user_histories(fit_columns, num_users, num_movies)
                        if config.rating_history and fit_columns is not None else None),
        rating_range=(rating_range(fit_columns)
                      if config.rating_clip and fit_columns is not None else None),
        fold_in_histories=(fold_in_histories(fit_columns, num_users, num_movies,
                                             config.history_length, config.seed)
                           if config.history_fold_in and fit_columns is not None else None))
    model.compile(optimizer=make_optimizer(config))
    return model


def fit(config: TrainingConfig, train: Columns, num_users: int, num_movies: int,
        callbacks: Optional[List[tf.keras.callbacks.Callback]] = None, verbose: int = 2,
        warm_start_source: Optional[WarmStartSource] = None,
        side: Optional[SideFeatures] = None, phases: Optional[Phases] = None) -> FitResult:
    """Trains on the train split (minus the validation carve-out), early-stopping if set;
    with `config.refit`, then trains a new model on the whole train split for the epochs
    early stopping chose, and returns that one.

    With `config.warm_start`, the built model first takes what it can from the base model of
    `warm_start_source` (models/warm_start.py) and, if it did, trains
    `config.warm_start_epochs`; otherwise it starts cold. `side`: the side features' tables
    (models/side_features.py), needed when the config uses side features. `phases`, if given,
    receives the seconds of each step of this (see `timed`).
    """
    result = _fit_once(config, train, num_users, num_movies, callbacks, verbose,
                       warm_start_source, side, phases)
    if not (config.refit and result.best_epoch):
        return result
    # Same seed and config, nothing held out, a fixed number of epochs; a warm start again
    # starts from the base model (warm_start_epochs would otherwise set the epochs).
    refit_config = config.with_overrides({
        "refit": False, "validation_percent": 0, "early_stopping_patience": 0,
        "epochs": result.best_epoch, "rating_head_epochs": result.rating_head_epochs,
        # No head epoch kept: none to repeat, so none of their settings either.
        **({} if result.rating_head_epochs else {"rating_head_dropout": 0.0,
                                                 "rating_head_learning_rate": 0.0}),
        "warm_start_epochs": result.best_epoch if config.warm_start else 0})
    refit_phases: Phases = {}
    with timed("fit: refit on the whole train split", phases):
        # No callbacks: theirs (TensorBoard's curves) are the selection run's, which has a
        # validation split to report; this run's losses are in the history.
        refitted = _fit_once(refit_config, train, num_users, num_movies, None, verbose,
                             warm_start_source, side, refit_phases)
    if phases is not None:
        phases.update({f"refit: {phase}": record for phase, record in refit_phases.items()})
    return dataclasses.replace(
        refitted, epochs_trained=result.epochs_trained, best_epoch=result.best_epoch,
        history={**result.history,
                 **{f"refit_{name}": values for name, values in refitted.history.items()}},
        validation_examples=result.validation_examples, refitted=True)


def _fit_once(config: TrainingConfig, train: Columns, num_users: int, num_movies: int,
              callbacks: Optional[List[tf.keras.callbacks.Callback]], verbose: int,
              warm_start_source: Optional[WarmStartSource], side: Optional[SideFeatures],
              phases: Optional[Phases]) -> FitResult:
    """One model trained as `config` says, refit aside (see `fit`)."""
    skip_keras_conversion()
    side_features.check_time_bins(config, train)
    with timed("fit: carving the validation split", phases):
        fit_columns, validation = training_splits(train, config)
        if config.history_fold_in:
            fit_columns = with_history_columns(fit_columns, config.seed)
        fit_columns = drop_user_ids(fit_columns, config.user_id_dropout, config.seed, num_users)
        if config.user_feature_dropout:
            side_features.check_available(config, side)
            unknown = {name: size - names.NUM_OOV_BUCKETS for name, size in
                       zip(names.USER_FEATURE_INDICES, side.user_feature_sizes)}
            fit_columns = drop_users_entirely(fit_columns, config.user_feature_dropout,
                                              config.seed, num_users, unknown)
    size = lambda columns: int(tf.shape(columns[names.USER_INDEX])[0])  # noqa: E731
    with timed("fit: building the model", phases):
        model = build_model(config, num_users, num_movies, fit_columns, side)
    if config.warm_start:
        warm_start = initialize(model, warm_start_source)
    else:
        warm_start = WarmStartReport(
            warm_started=False, reason="warm_start is off in the training config",
            base_model=warm_start_source.base_model if warm_start_source else None)
    # The average first, so validation measures it; then the combined metric, so every other
    # callback (early stopping, TensorBoard) sees both.
    callbacks = (_averaging(config) + [RmseMinusTop100()] + list(callbacks or [])
                 + [EpochTimes(phases)])
    stopper = None
    if config.early_stopping_patience:
        stopper = _early_stopping(config, config.early_stopping_monitor)
        callbacks.append(stopper)
    validation_input = distribute.Input(None, None)
    if size(validation):
        validation_input = distribute.distribute_dataset(
            lambda batch: to_dataset(validation, batch, False, config.seed),
            config.eval_batch_size, size(validation), model.distribute_strategy)
    fit_input = distribute.distribute_dataset(
        lambda batch: to_dataset(fit_columns, batch, True, config.seed), config.train_batch_size,
        size(fit_columns), model.distribute_strategy)
    with timed("fit: Keras's fit", phases):
        history = model.fit(fit_input.data, steps_per_epoch=fit_input.steps,
                            epochs=config.epochs_to_train(warm_start.warm_started),
                            validation_data=validation_input.data,
                            validation_steps=validation_input.steps,
                            callbacks=callbacks, verbose=verbose).history
    epochs_trained = len(next(iter(history.values()))) if history else 0
    head_epochs = 0
    if config.rating_head_epochs:
        joint_rmse = (history[VALIDATION_LOGS["rmse"]][stopper.best_epoch]
                      if stopper is not None else None)
        with timed("fit: the rating head alone", phases):
            head_epochs, head_history = _fit_rating_head(model, config, fit_input,
                                                         validation_input, joint_rmse, verbose)
        history.update({f"{names.RATING_HEAD_HISTORY_PREFIX}{name}": values
                        for name, values in head_history.items()})
    untrained = unknown_rows_for_untrained(model, fit_columns)
    if untrained:
        logging.info("Trainer: %d users of the vocabulary have no fit example; they get the "
                     "unknown user's rows", untrained)
    return FitResult(
        model=model, epochs_trained=epochs_trained,
        best_epoch=stopper.best_epoch + 1 if stopper is not None else None,
        history={name: [float(v) for v in values] for name, values in history.items()},
        fit_examples=size(fit_columns), validation_examples=size(validation),
        rated_fit_examples=int(fit_columns[names.RATING_MASK].numpy().sum()),
        warm_start=warm_start, rating_head_epochs=head_epochs)


def _fit_rating_head(model: MovieLensModel, config: TrainingConfig, fit_input: distribute.Input,
                     validation_input: distribute.Input, joint_rmse: Optional[float],
                     verbose: int) -> Tuple[int, Dict[str, List[float]]]:
    """The rating head alone, towers frozen, for `config.rating_head_epochs` epochs after the
    joint ones: the joint model's epoch is retrieval's best (early stopping on top-100, or on
    RMSE - top-100), and from there the head can go on fitting ratings without moving what
    retrieval learned.

    With early stopping (`joint_rmse`: the kept joint epoch's validation RMSE), at most that
    many epochs, stopping on validation RMSE and keeping the best epoch, or none if no epoch
    beat `joint_rmse`. Returns (epochs kept, Keras's history of this phase)."""
    model.train_rating_head_only()
    callbacks = _averaging(config)
    stopper = None
    if joint_rmse is not None:
        stopper = _early_stopping(config, "rmse")
        callbacks.append(stopper)
    joint_weights = model.get_weights()
    history = model.fit(fit_input.data, steps_per_epoch=fit_input.steps,
                        epochs=config.rating_head_epochs, validation_data=validation_input.data,
                        validation_steps=validation_input.steps, callbacks=callbacks,
                        verbose=verbose).history
    kept = config.rating_head_epochs if stopper is None else stopper.best_epoch + 1
    if stopper is not None and not stopper.best < joint_rmse:
        # Before unfreezing: get_weights orders the trainable weights first.
        model.set_weights(joint_weights)
        kept = 0
    model.train_rating_head_only(False)  # a model that trains as a whole again, if fitted on
    return kept, history


def _averaging(config: TrainingConfig) -> List[tf.keras.callbacks.Callback]:
    """The weight-averaging callback the config asks for, if any (first among a fit's
    callbacks: validation, and every callback after it, then see the average)."""
    return [WeightAverage(config.weight_averaging)] if config.weight_averaging else []


def _early_stopping(config: TrainingConfig,
                    monitor: str) -> tf.keras.callbacks.EarlyStopping:
    """Early stopping on `monitor` (a key of hparams.EARLY_STOPPING_MONITORS) with the
    config's patience, keeping the best epoch's weights."""
    return tf.keras.callbacks.EarlyStopping(
        monitor=VALIDATION_LOGS[monitor], mode=EARLY_STOPPING_MONITORS[monitor],
        patience=config.early_stopping_patience, restore_best_weights=True)


def user_scorer(model: MovieLensModel,
                histories: Optional[Dict[int, np.ndarray]] = None) -> ScoreFn:
    """Retrieval scores of some users (the OOV user is index num_users) for every catalog
    title. With history_fold_in, a user of `histories` (user index -> titles) is queried
    with those titles as their history (a new user's fold-in), any other with the model's."""
    catalog = model.catalog_embeddings()
    history = towers.history_tower(model.user_tower)

    def score_users(users: np.ndarray) -> np.ndarray:
        index = tf.constant(users, dtype=tf.int64)
        inputs: towers.UserInput = index
        given = [row for row, user in enumerate(users) if int(user) in (histories or {})]
        if history is not None and given:
            table = tf.gather(history.histories, index).numpy()
            for row in given:
                titles = histories[int(users[row])][:table.shape[1]]
                table[row] = history.num_movies
                table[row, :len(titles)] = titles
            inputs = {names.USER_INDEX: index, names.USER_HISTORY: tf.constant(table)}
        embeddings = model.user_tower(inputs)
        return tf.linalg.matmul(embeddings, catalog, transpose_b=True).numpy()

    return score_users


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What the Trainer measures on the eval split."""

    keras: Dict[str, float]  # Keras's metrics (masked RMSE, catalog top-K), maybe on a sample
    ranking: Dict[str, float]  # the model's per-user ranking metrics (models/evaluation.py)
    popularity: Dict[str, float]  # the popularity baseline's, by the same code
    # The same for each group of eval users (evaluation.user_groups): {group: {"model": ...,
    # "popularity": ..., "eval_ratings": n}}
    by_user_group: Dict[str, Dict[str, Any]] = dataclasses.field(default_factory=dict)

    def flat(self) -> Dict[str, float]:
        """Keras's and the model's ranking metrics in one dict (for experiment tables)."""
        return {**self.keras, **self.ranking}


def evaluate(model: MovieLensModel, config: TrainingConfig, train: Columns, evaluation: Columns,
             keras_max_rows: int = KERAS_EVAL_MAX_ROWS, phases: Optional[Phases] = None
             ) -> Evaluation:
    """Keras's metrics (masked RMSE, catalog top-K) on `evaluation`, or on a seeded sample of
    `keras_max_rows` of its rows (`keras_eval_examples` says how many); the per-user ranking
    metrics of the model and of the popularity baseline on all of it, the titles each user
    rated in `train` removed (none without `config.recall_ks`)."""
    skip_keras_conversion()
    keras_rows = sample_rows(evaluation, keras_max_rows, config.seed)
    data = distribute.distribute_dataset(
        lambda batch: to_dataset(keras_rows, batch, False, config.seed), config.eval_batch_size,
        int(tf.shape(keras_rows[names.USER_INDEX])[0]), model.distribute_strategy)
    with timed("Keras's evaluation", phases):
        metrics = model.evaluate(data.data, steps=data.steps, return_dict=True, verbose=0)
    metrics = {name: float(value) for name, value in metrics.items()}
    metrics["keras_eval_examples"] = float(len(keras_rows[names.USER_INDEX]))
    if not config.recall_ks:
        return Evaluation(metrics, {}, {})
    train_columns = {k: v.numpy() for k, v in train.items()}
    eval_columns = {k: v.numpy() for k, v in evaluation.items()}
    # New users give their first eval ratings as history (the strong-generalization
    # protocol): the model may read them, no ranking recommends them, none is a target.
    protocol = fold_in_protocol(train_columns, eval_columns)
    # Each ranker scores every eval user once; the groups' metrics come from that scoring.
    # Known and new users apart: a model can beat popularity on the first and lose on the
    # second, which the average over all users hides.
    with timed("per-user ranking metrics", phases):
        ranked = {
            names.MODEL_RANKER: grouped_ranking_metrics(
                user_scorer(model, protocol.histories), model.num_movies, protocol.seen,
                protocol.targets, config.recall_ks, protocol.groups,
                reorder=reranked_top_titles(model, config.rerank_depth,
                                            min(config.recall_ks))),
            names.POPULARITY_RANKER: grouped_ranking_metrics(
                popularity_scorer(train_columns, model.num_movies), model.num_movies,
                protocol.seen, protocol.targets, config.recall_ks, protocol.groups),
            names.RECENT_POPULARITY_RANKER: grouped_ranking_metrics(
                recent_popularity_scorer(train_columns, model.num_movies), model.num_movies,
                protocol.seen, protocol.targets, config.recall_ks, protocol.groups)}
    ranking, popularity = ranked[names.MODEL_RANKER][ALL_USERS], ranked[
        names.POPULARITY_RANKER][ALL_USERS]
    rows = {group: int(np.isin(protocol.targets[names.USER_INDEX], users).sum())
            for group, users in protocol.groups.items()}
    by_user_group = {group: {"eval_ratings": rows[group],
                             **{ranker: metrics[group] for ranker, metrics in ranked.items()}}
                     for group, users in protocol.groups.items() if len(users)}  # not empty
    by_user_group[ALL_USERS] = {"eval_ratings": len(protocol.targets[names.USER_INDEX]),
                                **{ranker: metrics[ALL_USERS]
                                   for ranker, metrics in ranked.items()}}
    return Evaluation(metrics, ranking, popularity, by_user_group)


def reranked_top_titles(model: MovieLensModel, depth: int, k: int,
                        max_rows: int = RERANK_MAX_ROWS) -> ReorderFn:
    """Retrieve-then-rank's k best titles (models/rerank.py, as `recommend_ranked` serves
    them) from scores with the titles rated in train already at -inf. The rating head sees
    at most `max_rows` (user, title) pairs at once."""
    depth = min(depth, model.num_movies)
    users_per_call = max(1, max_rows // depth)

    def top_titles(users: np.ndarray, scores: np.ndarray) -> np.ndarray:
        parts = [rerank(model.user_tower, model.movie_tower, model.rating_head,
                        tf.constant(users[start:start + users_per_call]),
                        tf.constant(scores[start:start + users_per_call]), depth,
                        min(k, depth))[0].numpy()
                 for start in range(0, len(users), users_per_call)]
        return np.concatenate(parts)

    return top_titles
