"""tf.data input for the Trainer: transformed TFRecords → shuffled, batched feature dicts.

Also the Trainer's deterministic carving of the train split: a validation split for early
stopping and the share of ratings kept as labels, both chosen by a seeded hash of the
(user, movie) pair, so they never depend on example order and never touch the eval split.
"""

from typing import Dict, List, Tuple

import tensorflow as tf
import tensorflow_transform as tft

import names
from models.hparams import TrainingConfig

Columns = Dict[str, tf.Tensor]
_HASH_BUCKETS = 1_000_000
_VALIDATION_SALT, _LABEL_SALT = 1, 2  # independent hashes for the two choices


def _read_columns(files: List[str], feature_spec: Dict[str, tf.io.FixedLenFeature]) -> Columns:
    """Every example of `files` as one [N] tensor per (scalar) feature."""
    parts: Dict[str, List[tf.Tensor]] = {name: [] for name in feature_spec}
    batches = (tf.data.TFRecordDataset(files, compression_type="GZIP")
               .batch(65_536)
               .map(lambda records: tf.io.parse_example(records, feature_spec)))
    for batch in batches:
        for name, values in batch.items():
            parts[name].append(tf.reshape(values, [-1]))
    return {name: tf.concat(values, axis=0) for name, values in parts.items()}


def canonical_order(columns: Columns) -> Columns:
    """Sorts the examples by all their values (lexicographically, by feature name).

    Beam writes examples in no fixed order, so two runs of the same pipeline can hand the
    Trainer the same examples in different orders; a seeded shuffle of a canonical order makes
    the batches, and so the trained model, depend on the data and the seed only.
    """
    size = tf.shape(next(iter(columns.values())))[0]
    order = tf.range(size)
    for name in sorted(columns, reverse=True):  # least significant key first, stable sorts
        order = tf.gather(order, tf.argsort(tf.gather(columns[name], order), stable=True))
    return {name: tf.gather(values, order) for name, values in columns.items()}


def load_columns(file_patterns: List[str], tf_transform_output: tft.TFTransformOutput) -> Columns:
    """Every transformed example of the files, in canonical order, with a rating mask.

    The transformed examples are a few scalars each, so they are held in memory. Data
    transformed before masks existed gets a mask of ones (every example is rated).
    """
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    columns = canonical_order(_read_columns(files, tf_transform_output.transformed_feature_spec()))
    if names.RATING_MASK not in columns:
        columns[names.RATING_MASK] = tf.ones_like(columns[names.RATING_LABEL])
    return columns


def vocabulary_sizes(tf_transform_output: tft.TFTransformOutput) -> Tuple[int, int]:
    """(num_users, num_movies): the Transform vocabularies' sizes, which size the towers."""
    return (tf_transform_output.vocabulary_size_by_name(names.USER_VOCABULARY),
            tf_transform_output.vocabulary_size_by_name(names.MOVIE_VOCABULARY))


def pair_hash(columns: Columns, seed: int, salt: int) -> tf.Tensor:
    """[N] int64 in 0..999,999: a seeded hash of each example's (user, movie) pair."""
    pairs = tf.strings.join([tf.strings.as_string(columns[names.USER_INDEX]),
                             tf.strings.as_string(columns[names.MOVIE_INDEX])], "/")
    return tf.strings.to_hash_bucket_strong(pairs, _HASH_BUCKETS, key=[seed, salt])


def select(columns: Columns, keep: tf.Tensor) -> Columns:
    return {name: tf.boolean_mask(values, keep) for name, values in columns.items()}


def keep_label_fraction(columns: Columns, fraction: float, seed: int) -> Columns:
    """Masks out the ratings of all but `fraction` of the pairs (the rest stay for retrieval)."""
    if fraction >= 1.0:
        return columns
    kept = pair_hash(columns, seed, _LABEL_SALT) < int(round(fraction * _HASH_BUCKETS))
    mask = columns[names.RATING_MASK] * tf.cast(kept, tf.float32)
    return {**columns, names.RATING_MASK: mask,
            names.RATING_LABEL: columns[names.RATING_LABEL] * mask}


def split_validation(columns: Columns, percent: int, seed: int) -> Tuple[Columns, Columns]:
    """(train, validation): `percent` % of the pairs held out of training, by hash."""
    held_out = pair_hash(columns, seed, _VALIDATION_SALT) < percent * (_HASH_BUCKETS // 100)
    return select(columns, tf.logical_not(held_out)), select(columns, held_out)


def training_splits(columns: Columns, config: TrainingConfig) -> Tuple[Columns, Columns]:
    """(fit, validation) from the train split: labels thinned, validation carved, and for a
    rating-only model the unrated examples dropped (they would carry no loss at all)."""
    columns = keep_label_fraction(columns, config.label_fraction, config.seed)
    fit, validation = split_validation(columns, config.validation_percent, config.seed)
    if config.retrieval_weight == 0:
        fit = select(fit, fit[names.RATING_MASK] > 0)
    return fit, validation


def to_dataset(columns: Columns, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """Batches of `columns`, reshuffled each epoch from `seed` when `shuffle`."""
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:  # a full shuffle: the canonical order is sorted, so a partial one would skew
        size = int(tf.shape(next(iter(columns.values())))[0])
        dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def make_dataset(file_patterns: List[str], tf_transform_output: tft.TFTransformOutput,
                 batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """The examples in canonical order, reshuffled each epoch from `seed` when `shuffle`."""
    return to_dataset(load_columns(file_patterns, tf_transform_output), batch_size, shuffle, seed)
