"""tf.data input for the Trainer: transformed TFRecords → shuffled, batched feature dicts."""

from typing import Dict, List

import tensorflow as tf
import tensorflow_transform as tft

def _read_columns(files: List[str], feature_spec: Dict[str, tf.io.FixedLenFeature]
                  ) -> Dict[str, tf.Tensor]:
    """Every example of `files` as one [N] tensor per (scalar) feature."""
    parts: Dict[str, List[tf.Tensor]] = {name: [] for name in feature_spec}
    batches = (tf.data.TFRecordDataset(files, compression_type="GZIP")
               .batch(65_536)
               .map(lambda records: tf.io.parse_example(records, feature_spec)))
    for batch in batches:
        for name, values in batch.items():
            parts[name].append(tf.reshape(values, [-1]))
    return {name: tf.concat(values, axis=0) for name, values in parts.items()}


def canonical_order(columns: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
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


def make_dataset(file_patterns: List[str], tf_transform_output: tft.TFTransformOutput,
                 batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """The examples in canonical order, reshuffled each epoch from `seed` when `shuffle`.

    The transformed examples are three scalars each (~24 bytes), so they are held in memory.
    """
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    columns = canonical_order(_read_columns(files, tf_transform_output.transformed_feature_spec()))
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:  # a full shuffle: the canonical order is sorted, so a partial one would skew
        size = int(tf.shape(next(iter(columns.values())))[0])
        dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
