"""MovieLensExampleGen's executor: a GroupLens archive or TFDS dataset → split tf.Examples.

The reading and parsing are in `parsing.py` (GroupLens) and `examples.py` (both sources); here
they are put together with the input checks: more malformed lines than `max_malformed_lines`
fail the component with a report naming each file and line, any duplicate (user, movie)
rating fails it whatever the tolerance, and so does an input with no usable rating.
"""

import dataclasses
import glob
import itertools
import logging
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, utils, write_split
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

import names
from components import record_counts
from components.movielens_example_gen import parsing, repeated_titles, time_split
from components.movielens_example_gen.examples import tfds_ratings
from movielens import grouplens

TFDS_NAME_KEY = "tfds_name"
MAX_MALFORMED_LINES_KEY = "max_malformed_lines"
_REPORTED_LINES = 20


class MalformedDataError(ValueError):
    """The input has more malformed lines than tolerated (or no usable rating at all)."""


class _CountAndFirst(beam.CombineFn):
    """(count, the first records in `key` order): a report of lines or ratings left out."""

    def __init__(self, key: Optional[Callable[[Any], Any]] = None) -> None:
        self._key = key

    def create_accumulator(self) -> Tuple[int, List[Any]]:
        return 0, []

    def add_input(self, accumulator, record):
        count, records = accumulator
        return count + 1, sorted(records + [record], key=self._key)[:_REPORTED_LINES]

    def merge_accumulators(self, accumulators):
        count, records = 0, []
        for part_count, part_records in accumulators:
            count += part_count
            records = sorted(records + part_records, key=self._key)[:_REPORTED_LINES]
        return count, records

    def extract_output(self, accumulator):
        return accumulator


def _line_order(line: grouplens.MalformedLine) -> Tuple[str, int]:
    return line.file, line.line_number


def format_report(count: int, lines: List[grouplens.MalformedLine], source: str) -> str:
    shown = "\n".join(f"  {line}" for line in lines)
    more = f"\n  ... and {count - len(lines)} more" if count > len(lines) else ""
    return f"{count} malformed line(s) in {source}:\n{shown}{more}"


@dataclasses.dataclass(frozen=True)
class RatingCount:
    """How many ratings were read, by how many distinct users, and the (user, movie) pairs
    rated more than once."""

    ratings: int
    users: int
    repeated_pairs: int
    some_repeated: Tuple[Tuple[int, int, int], ...]  # (user, movie, times), the smallest pairs


class _CountRatings(beam.CombineFn):
    """Counts the packed (user, movie) keys and finds the repeated ones by sorting them.

    Eight bytes per rating in numpy arrays: sorting ten million of them takes a second, where
    grouping them by key in Beam held every pair as Python objects in one process.
    """

    def create_accumulator(self) -> List[np.ndarray]:
        return []

    def add_input(self, accumulator: List[np.ndarray], keys: np.ndarray) -> List[np.ndarray]:
        accumulator.append(keys)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[List[np.ndarray]]) -> List[np.ndarray]:
        return self.compact([keys for accumulator in accumulators for keys in accumulator])

    def compact(self, accumulator: List[np.ndarray]) -> List[np.ndarray]:
        return [np.concatenate(accumulator)] if len(accumulator) > 1 else accumulator

    def extract_output(self, accumulator: List[np.ndarray]) -> RatingCount:
        keys = np.concatenate(accumulator) if accumulator else np.zeros(0, np.int64)
        unique, times = np.unique(keys, return_counts=True)
        repeated = times > 1
        some = tuple((*parsing.split_rating_key(int(key)), int(count)) for key, count in zip(
            unique[repeated][:_REPORTED_LINES], times[repeated][:_REPORTED_LINES]))
        users = np.unique(unique >> 32).size  # parsing.rating_key: the user id's bits
        return RatingCount(len(keys), int(users), int(repeated.sum()), some)


class _DistinctCount(beam.CombineFn):
    """How many distinct values the lists hold together (titles: thousands, not millions)."""

    def create_accumulator(self) -> set:
        return set()

    def add_input(self, accumulator: set, values: Iterable[Any]) -> set:
        accumulator.update(values)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[set]) -> set:
        merged: set = set()
        for accumulator in accumulators:
            merged |= accumulator
        return merged

    def extract_output(self, accumulator: set) -> int:
        return len(accumulator)


class _CountWritten(beam.DoFn):
    """Counts the examples of one split as they reach its writer (`written:<split>`)."""

    def __init__(self, split: str) -> None:
        self._name = f"{parsing.WRITTEN}:{split}"
        self._counter = None

    def setup(self) -> None:
        self._counter = beam.metrics.Metrics.counter(parsing.COUNTERS, self._name)

    def process(self, example: bytes) -> Iterator[bytes]:
        self._counter.inc()
        yield example


def check_input(_, rating_count: RatingCount,
                report: Tuple[int, List[grouplens.MalformedLine]], max_malformed_lines: int,
                source: str, superseded: Tuple[int, List[repeated_titles.Superseded]],
                titles: int = 0) -> None:
    """Fails the pipeline past the tolerance or on any duplicate rating; logs tolerated lines
    and the ratings dropped by the one-rating-per-(user, title) rule (`repeated_titles`).

    MovieLens holds one rating per (user, movie): a repeated pair is a duplicated row or a
    merge of two exports, and would silently count twice (or leak across the split), so it
    always fails, whatever the tolerance.
    """
    if rating_count.repeated_pairs:
        raise MalformedDataError(
            f"{rating_count.repeated_pairs} (user, movie) pair(s) rated more than once in "
            f"{source}:\n  "
            + "\n  ".join(f"user {user} rated movie {movie} {times} times"
                          for user, movie, times in rating_count.some_repeated)
            + ("\n  ..." if rating_count.repeated_pairs > len(rating_count.some_repeated)
               else "")
            + "\n(MovieLens has one rating per user and movie: deduplicate the input)")
    count, lines = report
    if count > max_malformed_lines:
        raise MalformedDataError(
            format_report(count, lines, source)
            + f"\n(max_malformed_lines={max_malformed_lines}; fix the data or raise the tolerance)")
    if count:
        logging.warning("Tolerated (max_malformed_lines=%d): %s", max_malformed_lines,
                        format_report(count, lines, source))
    if rating_count.ratings == 0:
        raise MalformedDataError(f"{source} holds no usable rating")
    dropped, records = superseded
    for name, value in ((parsing.RATINGS, rating_count.ratings), (parsing.SUPERSEDED, dropped),
                        (parsing.USERS, rating_count.users), (parsing.TITLE_COUNT, titles)):
        parsing.count(name, "", value)
    if dropped:  # one line on the console; which ratings, in the log (--verbose shows it)
        logging.warning("%d rating(s) of %s superseded: the same user rated the same title "
                        "later under another movie id, and the latest is kept (--verbose lists "
                        "them)", dropped, source)
        logging.info("%s", repeated_titles.format_superseded(dropped, records, source))
    logging.info("%s: %d examples, %d malformed line(s) tolerated, %d superseded rating(s) "
                 "dropped", source, rating_count.ratings - dropped, count, dropped)


def _first(example: tf.train.Example, name: str) -> Any:
    feature = example.features.feature[name]
    values = feature.bytes_list.value or feature.int64_list.value
    return values[0].decode() if isinstance(values[0], bytes) else values[0]


def _serialized_with_key(example: tf.train.Example, repeated: Dict[str, str], label: str
                         ) -> Iterator[Any]:
    user_id, movie_id = _first(example, names.USER_ID), _first(example, names.MOVIE_ID)
    parsing.count(parsing.LINES, label, 1)
    yield beam.pvalue.TaggedOutput(parsing.RATING_KEYS, np.array(
        [parsing.rating_key(user_id, movie_id)], dtype=np.int64))
    yield beam.pvalue.TaggedOutput(parsing.TITLES, [_first(example, names.MOVIE_TITLE)])
    serialized = example.SerializeToString(deterministic=True)
    if movie_id in repeated:
        yield beam.pvalue.TaggedOutput(repeated_titles.REPEATED_TITLE, (
            (user_id, repeated[movie_id]),
            (_first(example, names.TIMESTAMP), int(movie_id), serialized)))
    else:
        yield serialized


def input_path(input_base: str, split_pattern: str) -> str:
    """The one folder or archive that ExampleGen's input names.

    `input_base` and the split's pattern are glob patterns to TFX (its driver fingerprints
    their matches), so the pipeline passes local paths glob-escaped: a folder named
    `ml [1]` must not read `ml 1`. A pattern with glob characters must match exactly one path.
    """
    pattern = input_base if split_pattern == "*" else os.path.join(input_base, split_pattern)
    if not glob.has_magic(pattern):
        return pattern
    matches = sorted(tf.io.gfile.glob(pattern))
    if len(matches) != 1:
        error = FileNotFoundError if not matches else ValueError
        raise error(f"ExampleGen's input {pattern!r} matches {len(matches)} paths "
                    f"{matches[:5]}, not one; glob characters in a path must be escaped "
                    f"(glob.escape)")
    return matches[0]


def example_parts(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                  split_pattern: str) -> Tuple[beam.PCollection, ...]:
    """Serialized tf.Examples (as TFX's split hashes them: deterministic serialization), in
    parts that together hold every example once (`parsing.read_ratings`: not flattened into
    one, which would hold them all in the runner), with the input checks attached."""
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    tfds_name = exec_properties.get(TFDS_NAME_KEY) or ""
    if tfds_name:
        source = f"tfds:{tfds_name}"
        records = (pipeline | "TfdsName" >> beam.Create([tfds_name])
                   | "ReadTfds" >> beam.FlatMap(tfds_ratings))
        repeated = repeated_titles.ids_of_repeated_titles(
            records | "MovieTitles" >> beam.Map(
                lambda e: (_first(e, names.MOVIE_ID), _first(e, names.MOVIE_TITLE)))
            | "UniqueMovies" >> beam.Distinct(), "Tfds")
        parsed = records | "Serialize" >> beam.FlatMap(
            _serialized_with_key, beam.pvalue.AsDict(repeated), source).with_outputs(
                parsing.RATING_KEYS, parsing.TITLES, repeated_titles.REPEATED_TITLE,
                main="examples")
        kept, superseded = repeated_titles.keep_latest(parsed[repeated_titles.REPEATED_TITLE])
        parts = (parsed.examples, kept)
        keys, titles = parsed[parsing.RATING_KEYS], parsed[parsing.TITLES]
        malformed = pipeline | "NoMalformed" >> beam.Create([])
    else:
        source = input_path(input_base, split_pattern)
        parts, keys, titles, malformed, superseded = parsing.read_ratings(
            pipeline, grouplens.locate(source))
    report = malformed | "Report" >> beam.CombineGlobally(_CountAndFirst(_line_order))
    superseded_report = superseded | "SupersededReport" >> beam.CombineGlobally(
        _CountAndFirst())  # Superseded records order themselves
    rating_count = keys | "CountRatings" >> beam.CombineGlobally(_CountRatings())
    title_count = titles | "CountTitles" >> beam.CombineGlobally(_DistinctCount())
    _ = (pipeline | "CheckTrigger" >> beam.Create([None])
         | "CheckInput" >> beam.Map(
             check_input, beam.pvalue.AsSingleton(rating_count), beam.pvalue.AsSingleton(report),
             int(exec_properties.get(MAX_MALFORMED_LINES_KEY) or 0), source,
             beam.pvalue.AsSingleton(superseded_report), beam.pvalue.AsSingleton(title_count)))
    return parts


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _MovieLensToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                        split_pattern: str) -> beam.pvalue.PCollection:
    """Every serialized tf.Example in one PCollection: TFX's interface, and what the time
    split needs (it looks at all examples at once)."""
    return (example_parts(pipeline, exec_properties, split_pattern)
            | "AllExamples" >> beam.Flatten())


class _WriteToTFRecordUnlessEmpty(beam.io.WriteToTFRecord):
    """Beam's WriteToTFRecord, but no file at all for an empty PCollection (Beam's file sinks
    have `skip_if_empty`; WriteToTFRecord does not pass it on).

    Readers of a split hand its files to their worker processes in turn, in the folder's
    listing order: an empty third file between the two real ones left one of two workers
    idle and made the 1M Evaluator 1.7x slower (docs/benchmarks.md). Most sources list no
    title twice, and then each split holds only part 0's files again.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sink.skip_if_empty = True


def counts_from_metrics(result: beam.runners.runner.PipelineResult, splits: Iterable[str]
                        ) -> record_counts.RecordCounts:
    """ExampleGen's record counts from the Beam counters of its pipeline's `result`
    (`parsing.COUNTERS`): committed values where the runner has them, else attempted ones."""
    query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(
        parsing.COUNTERS))
    totals: Dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value)
    files: Dict[str, Dict[str, int]] = {}
    for name, value in totals.items():
        kind, _, label = name.partition(":")
        if label and kind in (parsing.LINES, parsing.SKIPPED, parsing.MALFORMED_LINES):
            files.setdefault(label, {})[kind] = value
    return record_counts.RecordCounts(
        files={label: record_counts.FileCount(**count) for label, count in sorted(files.items())},
        ratings=totals.get(parsing.RATINGS, 0), superseded=totals.get(parsing.SUPERSEDED, 0),
        splits={split: totals.get(f"{parsing.WRITTEN}:{split}", 0) for split in splits},
        users=totals.get(parsing.USERS, 0), titles=totals.get(parsing.TITLE_COUNT, 0))


def reconcile_with_input(counts: record_counts.RecordCounts, exec_properties: Dict[str, Any],
                         split_pattern: str) -> None:
    """RecordCountError unless ExampleGen's books balance: every line of a plain ratings file
    (counted again here, outside the pipeline) was read, every usable one parsed, and every
    parsed rating written or superseded."""
    if exec_properties.get(TFDS_NAME_KEY):
        source = f"tfds:{exec_properties[TFDS_NAME_KEY]}"
        record_counts.check_count("ExampleGen's TFDS reader", source, counts.ratings,
                                  counts.files.get(source, record_counts.FileCount(0)).lines,
                                  what="ratings", recorder="its reader")
    else:
        layout = grouplens.locate(input_path(
            exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern))
        label = grouplens.label(layout, layout.ratings)
        read = counts.files.get(label, record_counts.FileCount(0))
        path = parsing.plain_path(layout, layout.ratings)
        if path is not None:
            record_counts.check_count("ExampleGen's readers", label, read.lines,
                                      parsing.count_lines(path), what="lines",
                                      recorder="the file itself")
        record_counts.check_count("ExampleGen's rating parser", label, counts.ratings,
                                  read.used, what="ratings",
                                  recorder="its readers (lines - skipped - malformed)")
    record_counts.check_count("ExampleGen's writers", "all splits", counts.examples,
                              counts.ratings - counts.superseded,
                              recorder="its parser (ratings - superseded)")


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Writes each split in reading order, without TFX's shuffle before the write.

    TFX's `WriteSplit` Reshuffles every split first; Beam's in-memory DirectRunner (our local
    runner) holds a shuffle's whole input in the process, so every serialized example was in
    memory at once (≈ 12 GB at 10M ratings, docs/benchmarks.md). The order buys nothing here:
    the Trainer puts the examples in a canonical order of its own, and TFT, TFDV and TFMA
    don't depend on it. For the same reason each split is written in parts (`split_parts`),
    never flattened into one PCollection first.
    """

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _MovieLensToExample

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
                               ) -> Dict[str, beam.pvalue.PCollection]:
        """TFX's interface: each split in one PCollection (`split_parts` is what runs)."""
        return {name: parts | f"Flatten[{name}]" >> beam.Flatten()
                for name, parts in self.split_parts(pipeline, exec_properties).items()}

    def split_parts(self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
                    ) -> Dict[str, List[beam.pvalue.PCollection]]:
        """Each split's examples, in parts written side by side. TFX's hash split, applied to
        each part (so no Flatten holds every example in the runner), or with
        `split_by="time"` the time split (`time_split.py`), the output config's hash buckets
        giving the train share."""
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
        splits = output_config.split_config.splits
        pattern = input_config.splits[0].pattern
        if (exec_properties.get(time_split.SPLIT_BY_KEY) or time_split.HASH) != time_split.HASH:
            examples = pipeline | "InputToRecord" >> _MovieLensToExample(  # pylint: disable=E1120
                exec_properties, pattern)
            by_time = time_split.split_by_time(
                examples, [split.name for split in splits],
                splits[0].hash_buckets / sum(split.hash_buckets for split in splits))
            return {name: [split] for name, split in by_time.items()}
        # TFX's own partition function: the same examples land in the same split as with
        # TFX's GenerateExamplesByBeam (the seed preset's figures depend on it).
        buckets = list(itertools.accumulate(split.hash_buckets for split in splits))
        result: Dict[str, List[beam.pvalue.PCollection]] = {split.name: [] for split in splits}
        for index, part in enumerate(example_parts(pipeline, exec_properties, pattern)):
            partitioned = part | f"SplitData[{index}]" >> beam.Partition(
                base_example_gen_executor._PartitionFn,  # pylint: disable=protected-access
                len(buckets), buckets, output_config.split_config)
            for split, examples in zip(splits, partitioned):
                result[split.name].append(examples)
        return result

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
        outputs = output_dict[standard_component_specs.EXAMPLES_KEY]
        examples = artifact_utils.get_single_instance(outputs)
        examples.split_names = artifact_utils.encode_split_names(
            utils.generate_output_split_names(input_config, output_config))
        with self._make_beam_pipeline() as pipeline:
            for split_name, parts in self.split_parts(pipeline, exec_properties).items():
                split_uri = artifact_utils.get_split_uri(outputs, split_name)
                for index, part in enumerate(parts):
                    # Part 0 is TFX's file name; readers take every file of the split folder.
                    prefix = write_split.DEFAULT_TF_RECORD_FILE_NAME + (f"_{index}" if index
                                                                        else "")
                    write = (beam.io.WriteToTFRecord if index == 0
                             else _WriteToTFRecordUnlessEmpty)
                    _ = (part | f"Count[{split_name}][{index}]" >> beam.ParDo(
                            _CountWritten(split_name))
                         | f"Write[{split_name}][{index}]" >> write(
                             os.path.join(split_uri, prefix), file_name_suffix=".gz"))
        counts = counts_from_metrics(pipeline.result, artifact_utils.decode_split_names(
            examples.split_names))
        reconcile_with_input(counts, exec_properties, input_config.splits[0].pattern)
        record_counts.write_counts(examples, counts)
        logging.info("ExampleGen: %s", counts.summary())
        # TFX's FileBasedDriver has already set the artifact's span (and version, with a
        # {VERSION} pattern) and input fingerprint as custom properties; TFX's Do sets the
        # two formats below. The Examples type also declares span and version as properties,
        # which StatisticsGen copies to its statistics (and ExampleValidator on to its
        # anomalies): set from the driver's values, so that those carry the span too.
        if exec_properties.get(utils.SPAN_PROPERTY_NAME) is not None:
            examples.span = int(exec_properties[utils.SPAN_PROPERTY_NAME])
        if exec_properties.get(utils.VERSION_PROPERTY_NAME) is not None:
            examples.version = int(exec_properties[utils.VERSION_PROPERTY_NAME])
        # The source it came from tells one drops folder's spans from another's.
        examples.set_string_custom_property(
            names.EXAMPLES_INPUT_BASE_KEY,
            exec_properties[standard_component_specs.INPUT_BASE_KEY])
        examples_utils.set_payload_format(
            examples, exec_properties[standard_component_specs.OUTPUT_DATA_FORMAT_KEY])
        examples_utils.set_file_format(examples, write_split.to_file_format_str(
            exec_properties[standard_component_specs.OUTPUT_FILE_FORMAT_KEY]))
