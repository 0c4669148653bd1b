"""The time split: every train rating is older than every eval rating.

TFX's hash split (the default, and the TFRS tutorial's protocol) sends a random 20 % of
ratings to eval, so the model trains on each user's future and is scored on their past: its
figures are optimistic for a recommender that must predict what comes next. Here one global
cut-off is taken at the train share's quantile of the timestamps, exactly (the timestamps are
gathered as int64 arrays: 8 bytes a rating, 80 MB at 10M); ratings before it go to train, the
rest (those at the cut-off too) to eval, so no rating in train is later than one in eval.
"""

from typing import Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf

import names

SPLIT_BY_KEY = "split_by"  # MovieLensExampleGen's parameter: "hash" or "time"
HASH, TIME = "hash", "time"
SPLIT_METHODS = (HASH, TIME)
_COMPACT_EVERY = 1 << 16


class TimeSplitError(ValueError):
    """The timestamps cannot be cut into a non-empty train and eval."""


def timestamp_of(serialized: bytes) -> int:
    return tf.train.Example.FromString(serialized).features.feature[
        names.TIMESTAMP].int64_list.value[0]


class _Timestamps(beam.CombineFn):
    """Every timestamp, as int64 arrays (a Python list only for the latest few thousand)."""

    def create_accumulator(self) -> Tuple[List[np.ndarray], List[int]]:
        return [], []

    def add_input(self, accumulator, timestamp: int):
        arrays, pending = accumulator
        pending.append(timestamp)
        if len(pending) >= _COMPACT_EVERY:
            arrays.append(np.array(pending, dtype=np.int64))
            pending.clear()
        return arrays, pending

    def merge_accumulators(self, accumulators: Iterable[Tuple[List[np.ndarray], List[int]]]):
        arrays: List[np.ndarray] = []
        for part_arrays, pending in accumulators:
            arrays += part_arrays + [np.array(pending, dtype=np.int64)]
        return [np.concatenate(arrays)] if arrays else [], []

    def extract_output(self, accumulator) -> np.ndarray:
        arrays, pending = accumulator
        return np.concatenate(arrays + [np.array(pending, dtype=np.int64)])


def cutoff(timestamps: np.ndarray, train_fraction: float) -> int:
    """The first timestamp of eval: the train share's quantile of `timestamps` (or, when
    that is their minimum, the next later timestamp, so train is not empty).

    Raises TimeSplitError when there is no later timestamp (e.g. one timestamp for all)."""
    if len(timestamps) == 0:
        raise TimeSplitError("no ratings to split by time")
    ordered = np.sort(timestamps)
    first_eval = int(ordered[min(int(len(ordered) * train_fraction), len(ordered) - 1)])
    if first_eval == ordered[0]:
        later = ordered[ordered > first_eval]
        if len(later) == 0:
            raise TimeSplitError(
                f"time split: every rating has the same timestamp ({first_eval}), so train "
                f"or eval would be empty")
        first_eval = int(later[0])
    return first_eval


def split_by_time(examples: beam.PCollection, split_names: Sequence[str],
                  train_fraction: float) -> Dict[str, beam.PCollection]:
    """{train name: older examples, eval name: the rest} of serialized tf.Examples."""
    if len(split_names) != 2:
        raise ValueError(f"the time split makes train and eval, not {list(split_names)}")
    timed = examples | "Timestamp" >> beam.Map(lambda e: (timestamp_of(e), e))
    first_eval = (timed | "Times" >> beam.Map(lambda pair: pair[0])
                  | "AllTimes" >> beam.CombineGlobally(_Timestamps())
                  | "Cutoff" >> beam.Map(cutoff, train_fraction))
    parts = timed | "ByTime" >> beam.Partition(
        lambda pair, _, first: int(pair[0] >= first), 2, beam.pvalue.AsSingleton(first_eval))
    return {name: part | f"Drop{name}Time" >> beam.Map(lambda pair: pair[1])
            for name, part in zip(split_names, parts)}
