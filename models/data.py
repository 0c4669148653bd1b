"""tf.data input for the Trainer: raw TFRecords through Transform's graph → shuffled, batched
feature dicts.

Also the Trainer's deterministic carving of the train split: a validation split for early
stopping and the share of ratings kept as labels, both chosen by a seeded hash of the
(user, movie) pair, so they never depend on example order and never touch the eval split.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft

import names
from models.hparams import TrainingConfig

Columns = Dict[str, tf.Tensor]
_HASH_BUCKETS = 1_000_000
_VALIDATION_SALT, _LABEL_SALT = 1, 2  # independent hashes for the two choices
_SAMPLE_SALT = 3  # the evaluation sample's seed, independent of the training order's
_DROPOUT_SALT = 4  # which examples train the OOV user row
_HOLDOUT_SALT = 5  # experiments' selection set, independent of the validation carve-out
_FEATURE_DROPOUT_SALT = 6  # which examples train as a user sent with nothing
_HISTORY_SALT = 7  # what share of its user's history an example reads (history_fold_in)


# The transformed features every model reads; the side features come on top, as the training
# config asks (TrainingConfig.side_feature_columns).
CORE_COLUMNS = (names.USER_INDEX, names.MOVIE_INDEX, names.RATING_LABEL, names.RATING_MASK)
# Read whenever the graph writes them, whatever the config: the evaluation orders a new
# user's eval ratings by time (the fold-in), recent popularity and the histories read it too.
CONTEXT_COLUMNS = (names.RATING_TIMESTAMP,)
# Every side-feature column a config can ask for (what experiments load, to try any config).
SIDE_COLUMNS = ((names.MOVIE_GENRE_MASK,) + names.USER_FEATURE_INDICES
                + (names.RATING_TIME_BIN,))


def _read_columns(files: List[str], tf_transform_output: tft.TFTransformOutput,
                  features: Sequence[str]) -> Columns:
    """Every raw example of `files`, through Transform's graph, as one [N] tensor per
    transformed feature of `features` that the graph writes (the others are not kept).

    Transform analyzes but does not write transformed copies of the examples (its
    `materialize=False`): its Beam pass to encode, compress and write them cost more than
    the Trainer applying the same graph here, a batch of 65,536 at a time in TensorFlow
    (docs/benchmarks.md). The tensors are the ones Transform would have written.
    """
    transformed_spec = tf_transform_output.transformed_feature_spec()
    raw_spec = tf_transform_output.raw_feature_spec()
    transform = tf_transform_output.transform_features_layer()
    parts: Dict[str, List[tf.Tensor]] = {name: [] for name in features
                                         if name in transformed_spec}
    batches = (tf.data.TFRecordDataset(files, compression_type="GZIP")
               .batch(65_536)
               .map(lambda records: tf.io.parse_example(records, raw_spec))
               .prefetch(1))
    for raw in batches:
        transformed = transform(raw)
        for name in parts:
            parts[name].append(tf.reshape(transformed[name], [-1]))
    return {name: tf.concat(values, axis=0) for name, values in parts.items()}


def canonical_order(columns: Columns) -> Columns:
    """Sorts the examples by their core values (lexicographically, by feature name).

    Beam writes examples in no fixed order, so two runs of the same pipeline can hand the
    Trainer the same examples in different orders; a seeded shuffle of a canonical order makes
    the batches, and so the trained model, depend on the data and the seed only. The side
    features belong to the user or the title, so examples equal in the core columns are
    equal in them too: the order, and a model without side features, stay as they were.
    """
    size = tf.shape(next(iter(columns.values())))[0]
    order = tf.range(size)
    keys = [name for name in CORE_COLUMNS if name in columns]
    for name in sorted(keys, reverse=True):  # least significant key first, stable sorts
        order = tf.gather(order, tf.argsort(tf.gather(columns[name], order), stable=True))
    return {name: tf.gather(values, order) for name, values in columns.items()}


def load_columns(file_patterns: List[str], tf_transform_output: tft.TFTransformOutput,
                 side_features: Sequence[str] = ()) -> Columns:
    """Every example of the files (ExampleGen's raw tf.Examples), transformed, in canonical
    order, with a rating mask: the core columns and those of `side_features` the transform
    graph writes (a source without a user file has no user side features).

    The transformed examples are a few scalars each, so they are held in memory. A transform
    graph from before masks existed gives a mask of ones (every example is rated).
    """
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no examples match {file_patterns}")
    columns = canonical_order(_read_columns(files, tf_transform_output,
                                            CORE_COLUMNS + CONTEXT_COLUMNS
                                            + tuple(side_features)))
    if names.RATING_MASK not in columns:
        columns[names.RATING_MASK] = tf.ones_like(columns[names.RATING_LABEL])
    return columns


class IncompleteVocabularyError(ValueError):
    """Examples the Trainer reads have ids that Transform's vocabularies lack."""


def check_in_vocabulary(columns: Columns, num_users: int, num_movies: int, split: str) -> None:
    """IncompleteVocabularyError when an example of `split` has an OOV user or title index.

    Transform's vocabularies are built from every example the Trainer reads (train and eval of
    every span so far), so an OOV index here means Transform's analysis did not see part of
    its input: it happened with Beam's multi-process DirectRunner at 10M ratings, where 843
    users' examples were left out of the user vocabulary and would have trained as the unknown
    user (docs/benchmarks.md). Training on that would be wrong without any other sign.
    """
    users = columns[names.USER_INDEX].numpy()
    movies = columns[names.MOVIE_INDEX].numpy()
    unknown_users = int((users >= num_users).sum())
    unknown_movies = int((movies >= num_movies).sum())
    if unknown_users or unknown_movies:
        raise IncompleteVocabularyError(
            f"{unknown_users} of the {len(users):,} {split} examples have a user id and "
            f"{unknown_movies} a title that Transform's vocabularies ({num_users:,} users, "
            f"{num_movies:,} titles) do not hold, although Transform analyzed these same "
            f"examples: its analysis lost part of its input. Run again with --no-cache; Transform "
            f"runs in one process because on several it lost input (docs/benchmarks.md)")


class RecordCountError(RuntimeError):
    """A stage consumed another number of records than its input recorded: rows were lost or
    duplicated on the way. The run stops there, so nothing trained on them is pushed."""


def check_count(stage: str, split: str, consumed: int, recorded: int,
                what: str = "examples", recorder: str = "ExampleGen") -> None:
    """RecordCountError naming the stage, the split and both counts unless they are equal.

    `consumed`: what `stage` read of `split`; `recorded`: what `recorder` wrote of it.
    """
    if consumed != recorded:
        raise RecordCountError(
            f"{stage} read {consumed:,} {what} of split '{split}' but {recorder} recorded "
            f"{recorded:,} ({consumed - recorded:+,}): records were lost or duplicated between "
            f"the stages, and the run stops before anything is pushed. With several Beam "
            f"worker processes (--beam-workers), run again with --beam-workers 1")


def check_rows(columns: Columns, split: str, custom_config: Optional[Dict]) -> None:
    """RecordCountError unless the Trainer read as many rows of `split` as ExampleGen wrote:
    the count the Trainer's executor puts in `custom_config[names.EXPECTED_ROWS_KEY]`
    (components/counted_trainer.py; absent, e.g. on Vertex AI Training, nothing is checked)."""
    expected = ((custom_config or {}).get(names.EXPECTED_ROWS_KEY) or {}).get(split)
    if expected is not None:
        rows = int(tf.shape(columns[names.USER_INDEX])[0])
        check_count("The Trainer", split, rows, int(expected))


def vocabulary_sizes(tf_transform_output: tft.TFTransformOutput) -> Tuple[int, int]:
    """(num_users, num_movies): the Transform vocabularies' sizes, which size the towers."""
    return (tf_transform_output.vocabulary_size_by_name(names.USER_VOCABULARY),
            tf_transform_output.vocabulary_size_by_name(names.MOVIE_VOCABULARY))


def pair_hash(columns: Columns, seed: int, salt: int) -> tf.Tensor:
    """[N] int64 in 0..999,999: a seeded hash of each example's (user, movie) pair."""
    pairs = tf.strings.join([tf.strings.as_string(columns[names.USER_INDEX]),
                             tf.strings.as_string(columns[names.MOVIE_INDEX])], "/")
    return tf.strings.to_hash_bucket_strong(pairs, _HASH_BUCKETS, key=[seed, salt])


def _num_rows(columns: Columns) -> int:
    return int(tf.shape(next(iter(columns.values())))[0])


def select(columns: Columns, keep: tf.Tensor) -> Columns:
    return {name: tf.boolean_mask(values, keep) for name, values in columns.items()}


def sample_rows(columns: Columns, max_rows: int, seed: int) -> Columns:
    """At most `max_rows` rows: all of them, or a seeded uniform sample kept in their order."""
    size = _num_rows(columns)
    if size <= max_rows:
        return columns
    order = tf.random.experimental.stateless_shuffle(
        tf.range(size, dtype=tf.int64), seed=[seed, _SAMPLE_SALT])
    rows = tf.sort(order[:max_rows])
    return {name: tf.gather(values, rows) for name, values in columns.items()}


def _hashed_share(columns: Columns, fraction: float, seed: int, salt: int) -> tf.Tensor:
    """[N] bool: True for `fraction` of the (user, movie) pairs, chosen by the salted hash."""
    return pair_hash(columns, seed, salt) < int(round(fraction * _HASH_BUCKETS))


def _replace_in_share(columns: Columns, fraction: float, seed: int, salt: int,
                      values: Dict[str, int]) -> Columns:
    """The columns with each column of `values` set to its value in a hashed `fraction` of
    the pairs (`_hashed_share`); the other columns, and the other rows, as they were."""
    if fraction <= 0:
        return columns
    chosen = _hashed_share(columns, fraction, seed, salt)
    return {**columns, **{name: tf.where(chosen, tf.constant(value, columns[name].dtype),
                                         columns[name])
                          for name, value in values.items()}}


def keep_label_fraction(columns: Columns, fraction: float, seed: int) -> Columns:
    """Masks out the ratings of all but `fraction` of the pairs (the rest stay for retrieval)."""
    if fraction >= 1.0:
        return columns
    kept = _hashed_share(columns, fraction, seed, _LABEL_SALT)
    mask = columns[names.RATING_MASK] * tf.cast(kept, tf.float32)
    return {**columns, names.RATING_MASK: mask,
            names.RATING_LABEL: columns[names.RATING_LABEL] * mask}


def drop_user_ids(columns: Columns, fraction: float, seed: int, num_users: int) -> Columns:
    """The columns with `fraction` of the pairs' user index (by hash) replaced by the OOV
    index `num_users`: those examples train what an unknown user gets (their other columns,
    the side features among them, are kept)."""
    return _replace_in_share(columns, fraction, seed, _DROPOUT_SALT,
                             {names.USER_INDEX: num_users})


def drop_users_entirely(columns: Columns, fraction: float, seed: int, num_users: int,
                        unknown_features: Dict[str, int]) -> Columns:
    """The columns with `fraction` of the pairs (by hash) made a user sent with nothing: the
    OOV user index `num_users` and each user feature column of `unknown_features` set to its
    unknown index. Their titles and ratings are kept."""
    unknown = {names.USER_INDEX: num_users, **unknown_features}
    if names.HISTORY_USER_INDEX in columns:  # and no history either
        unknown[names.HISTORY_USER_INDEX] = num_users
    return _replace_in_share(columns, fraction, seed, _FEATURE_DROPOUT_SALT, unknown)


def with_history_columns(columns: Columns, seed: int) -> Columns:
    """The columns plus what history_fold_in's training reads: whose history each example
    reads (names.HISTORY_USER_INDEX: its user, kept when an id dropout hides the user) and
    what share of it (names.HISTORY_SHARE, in (0, 1], a seeded hash of the pair: fixed per
    example, so each epoch shows an example the same history)."""
    share = tf.cast(pair_hash(columns, seed, _HISTORY_SALT) + 1, tf.float32) / _HASH_BUCKETS
    return {**columns, names.HISTORY_USER_INDEX: columns[names.USER_INDEX],
            names.HISTORY_SHARE: share}


def split_validation(columns: Columns, percent: int, seed: int,
                     salt: int = _VALIDATION_SALT) -> Tuple[Columns, Columns]:
    """(train, validation): `percent` % of the pairs held out of training, by hash."""
    held_out = pair_hash(columns, seed, salt) < percent * (_HASH_BUCKETS // 100)
    return select(columns, tf.logical_not(held_out)), select(columns, held_out)


def split_holdout(columns: Columns, percent: int, seed: int) -> Tuple[Columns, Columns]:
    """(rest, holdout): `percent` % of the pairs set aside before a config sees the split, by
    a hash independent of the validation carve-out's. Experiments compare configs on it when
    they differ in what they train on (a refit trains on its validation carve-out too, so
    that carve-out cannot judge it)."""
    return split_validation(columns, percent, seed, _HOLDOUT_SALT)


def split_time_holdout(columns: Columns, percent: int) -> Tuple[Columns, Columns]:
    """(rest, holdout): the latest `percent` % of the examples by names.RATING_TIMESTAMP set
    aside, as a time split sets aside its eval period: what experiments choose a config for
    `--split time` on (ties at the cut-off go to the holdout)."""
    if names.RATING_TIMESTAMP not in columns:
        raise ValueError("a time holdout needs the ratings' times (rating_timestamp): this "
                         "transform graph does not write them")
    times = columns[names.RATING_TIMESTAMP]
    cut = tf.sort(times)[int(_num_rows(columns) * (100 - percent) / 100)]
    later = times >= cut
    return select(columns, tf.logical_not(later)), select(columns, later)


def training_splits(columns: Columns, config: TrainingConfig) -> Tuple[Columns, Columns]:
    """(fit, validation) from the train split: labels thinned, validation carved, and for a
    rating-only model the unrated examples dropped (they would carry no loss at all)."""
    columns = keep_label_fraction(columns, config.label_fraction, config.seed)
    fit, validation = split_validation(columns, config.validation_percent, config.seed)
    if config.retrieval_weight == 0:
        fit = select(fit, fit[names.RATING_MASK] > 0)
    return fit, validation


def _epoch_orders(size: int, seed: int) -> tf.data.Dataset:
    """One [size] int64 permutation of the row indices per iteration of the dataset.

    Each iteration (Keras makes one per epoch) draws a new key from `Dataset.random`, whose
    sequence of keys is fixed by `seed`, and shuffles the indices with a stateless op keyed on
    (seed, key): epoch n sees the same order in every run and a different order from epoch
    n + 1. The permutation is one int64 tensor (8 bytes a row), not a shuffle buffer of
    elements. A full permutation, not a window: the canonical order is sorted, so a partial
    shuffle would hand out skewed batches.
    """
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    return keys.map(lambda key: tf.random.experimental.stateless_shuffle(
        tf.range(size, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), key])))


def _batches(columns: Columns, size: int, batch_size: int,
             order: Optional[tf.Tensor]) -> tf.data.Dataset:
    """Batches of the rows `order[start:end]` of every column (rows start:end if no order)."""

    def batch(start: tf.Tensor) -> Columns:
        end = tf.minimum(start + batch_size, size)
        if order is None:
            return {name: values[start:end] for name, values in columns.items()}
        rows = order[start:end]
        return {name: tf.gather(values, rows) for name, values in columns.items()}

    return tf.data.Dataset.range(0, size, batch_size).map(batch)


def to_dataset(columns: Columns, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """Batches of `columns`, in a new order each epoch from `seed` when `shuffle`.

    The columns stay whole tensors; each batch gathers its rows from them in-graph, so memory
    is the columns plus one index permutation, whatever the number of rows.
    """
    size = _num_rows(columns)
    if shuffle:
        batches = _epoch_orders(size, seed).flat_map(
            lambda order: _batches(columns, size, batch_size, order))
    else:
        batches = _batches(columns, size, batch_size, None)
    num_batches = -(-size // batch_size)  # flat_map forgets it; Keras shows and checks it
    return batches.apply(tf.data.experimental.assert_cardinality(num_batches)).prefetch(
        tf.data.AUTOTUNE)
