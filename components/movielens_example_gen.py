"""MovieLensExampleGen: MovieLens ratings (GroupLens files or TFDS) → tf.Examples, split.

Unlike CsvExampleGen it keeps ids as strings (serving requests carry "42", not 42), joins the
item and user files so every example has TFDS's side features, and counts every malformed line
with its file and line number: past `max_malformed_lines` the component fails with the report.
"""

import logging
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen import driver
from tfx.components.example_gen import utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import proto_utils

from components import grouplens
from models import features
from pipeline.fingerprint import CODE_FINGERPRINT_KEY

TFDS_NAME_KEY = "tfds_name"
MAX_MALFORMED_LINES_KEY = "max_malformed_lines"
_MALFORMED = "malformed"
_REPORTED_LINES = 20


class MalformedDataError(ValueError):
    """The input has more malformed lines than tolerated (or no usable rating at all)."""


def make_example(user_id: str, movie_title: str, rating: float, timestamp: int, movie_id: str,
                 genres: Sequence[int], gender: int, bucketized_age: float, occupation: str,
                 zip_code: str) -> tf.train.Example:
    """One rating as a tf.Example with TFDS movielens feature names (ids as strings)."""
    def strings(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    def ints(values: Iterable[int]) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    def floats(value: float) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        features.USER_ID: strings(user_id),
        features.MOVIE_TITLE: strings(movie_title),
        features.USER_RATING: floats(rating),
        features.TIMESTAMP: ints([timestamp]),
        features.MOVIE_ID: strings(movie_id),
        features.MOVIE_GENRES: ints(genres),
        features.USER_GENDER: ints([gender]),
        features.BUCKETIZED_USER_AGE: floats(bucketized_age),
        features.USER_OCCUPATION_TEXT: strings(occupation),
        features.USER_ZIP_CODE: strings(zip_code),
    }))


def grouplens_ratings(layout: grouplens.ArchiveLayout, movies: Dict[str, grouplens.Movie],
                      users: Dict[str, grouplens.User]) -> Iterator[Any]:
    """Streams the ratings file: a tf.Example per good line, a MalformedLine per bad one."""
    name = grouplens.label(layout, layout.ratings)
    for number, text in grouplens.read_lines(layout, layout.ratings, "utf-8"):
        if isinstance(text, grouplens.MalformedLine):
            yield text
            continue
        try:
            rating = grouplens.parse_rating(layout.format, text)
            movie = movies.get(rating.movie_id)
            user = users.get(rating.user_id)
            if movie is None:
                raise ValueError(f"movie id {rating.movie_id} is not in {layout.movies}")
            if user is None:
                raise ValueError(f"user id {rating.user_id} is not in {layout.users}")
        except ValueError as error:
            yield grouplens.MalformedLine(name, number, str(error), text)
            continue
        yield make_example(user.user_id, movie.title, rating.rating, rating.timestamp,
                           movie.movie_id, movie.genres, user.gender, user.bucketized_age,
                           user.occupation, user.zip_code)


def tfds_ratings(name: str, data_dir: Optional[str] = None) -> Iterator[tf.train.Example]:
    """Streams a TFDS `movielens/*-ratings` dataset (downloads it when online)."""
    import tensorflow_datasets as tfds  # only this source needs it

    dataset = tfds.load(name, split="train", data_dir=data_dir)
    for record in tfds.as_numpy(dataset):
        yield make_example(
            user_id=record[features.USER_ID].decode("utf-8"),
            movie_title=record[features.MOVIE_TITLE].decode("utf-8"),
            rating=float(record[features.USER_RATING]),
            timestamp=int(record[features.TIMESTAMP]),
            movie_id=record[features.MOVIE_ID].decode("utf-8"),
            genres=[int(g) for g in record[features.MOVIE_GENRES]],
            gender=int(bool(record[features.USER_GENDER])),
            bucketized_age=float(record[features.BUCKETIZED_USER_AGE]),
            occupation=record[features.USER_OCCUPATION_TEXT].decode("utf-8"),
            zip_code=record[features.USER_ZIP_CODE].decode("utf-8"),
        )


class _SplitMalformed(beam.DoFn):
    def process(self, record):
        if isinstance(record, grouplens.MalformedLine):
            yield beam.pvalue.TaggedOutput(_MALFORMED, record)
        else:
            yield record


class _MalformedReport(beam.CombineFn):
    """(count, the first lines by file and line number)."""

    def create_accumulator(self) -> Tuple[int, List[grouplens.MalformedLine]]:
        return 0, []

    def add_input(self, accumulator, line):
        count, lines = accumulator
        return count + 1, sorted(lines + [line], key=_order)[:_REPORTED_LINES]

    def merge_accumulators(self, accumulators):
        count, lines = 0, []
        for part_count, part_lines in accumulators:
            count += part_count
            lines = sorted(lines + part_lines, key=_order)[:_REPORTED_LINES]
        return count, lines

    def extract_output(self, accumulator):
        return accumulator


def _order(line: grouplens.MalformedLine) -> Tuple[str, int]:
    return line.file, line.line_number


def format_report(count: int, lines: List[grouplens.MalformedLine], source: str) -> str:
    shown = "\n".join(f"  {line}" for line in lines)
    more = f"\n  ... and {count - len(lines)} more" if count > len(lines) else ""
    return f"{count} malformed line(s) in {source}:\n{shown}{more}"


def _rating_pair(example: tf.train.Example) -> Tuple[bytes, bytes]:
    feature = example.features.feature
    return (feature[features.USER_ID].bytes_list.value[0],
            feature[features.MOVIE_ID].bytes_list.value[0])


def _describe_duplicates(pairs: List[Tuple[Tuple[bytes, bytes], int]]) -> List[str]:
    return [f"user {user.decode()} rated movie {movie.decode()} {times} times"
            for (user, movie), times in sorted(pairs)[:_REPORTED_LINES]]


def check_input(_, example_count: int, report: Tuple[int, List[grouplens.MalformedLine]],
                duplicate_count: int, some_duplicates: List[Tuple[Tuple[bytes, bytes], int]],
                max_malformed_lines: int, source: str) -> None:
    """Fails the pipeline past the tolerance or on any duplicate rating; logs tolerated lines.

    MovieLens holds one rating per (user, movie): a repeated pair is a duplicated row or a
    merge of two exports, and would silently count twice (or leak across the split), so it
    always fails, whatever the tolerance.
    """
    if duplicate_count:
        raise MalformedDataError(
            f"{duplicate_count} (user, movie) pair(s) rated more than once in {source}:\n  "
            + "\n  ".join(_describe_duplicates(some_duplicates))
            + ("\n  ..." if duplicate_count > len(some_duplicates) else "")
            + "\n(MovieLens has one rating per user and movie: deduplicate the input)")
    count, lines = report
    if count > max_malformed_lines:
        raise MalformedDataError(
            format_report(count, lines, source)
            + f"\n(max_malformed_lines={max_malformed_lines}; fix the data or raise the tolerance)")
    if count:
        logging.warning("Tolerated (max_malformed_lines=%d): %s", max_malformed_lines,
                        format_report(count, lines, source))
    if example_count == 0:
        raise MalformedDataError(f"{source} holds no usable rating")
    logging.info("%s: %d examples, %d malformed line(s) tolerated", source, example_count, count)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _MovieLensToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                        split_pattern: str) -> beam.pvalue.PCollection:
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    tfds_name = exec_properties.get(TFDS_NAME_KEY) or ""
    if tfds_name:
        source = f"tfds:{tfds_name}"
        records = (pipeline | "TfdsName" >> beam.Create([tfds_name])
                   | "ReadTfds" >> beam.FlatMap(tfds_ratings))
        table_errors: List[grouplens.MalformedLine] = []
    else:
        source = input_base if split_pattern == "*" else os.path.join(input_base, split_pattern)
        layout = grouplens.locate(source)
        movies, movie_errors = grouplens.read_movies(layout)
        users, user_errors = grouplens.read_users(layout)
        table_errors = movie_errors + user_errors
        records = (pipeline | "Layout" >> beam.Create([layout])
                   | "ReadRatings" >> beam.FlatMap(grouplens_ratings, movies, users))
    split = records | "SplitMalformed" >> beam.ParDo(_SplitMalformed()).with_outputs(
        _MALFORMED, main="examples")
    examples = split.examples
    malformed = ((split[_MALFORMED], pipeline | "TableErrors" >> beam.Create(table_errors))
                 | "AllMalformed" >> beam.Flatten())
    report = malformed | "Report" >> beam.CombineGlobally(_MalformedReport())
    count = examples | "Count" >> beam.combiners.Count.Globally()
    repeated = (examples
                | "RatingPairs" >> beam.Map(lambda example: (_rating_pair(example), 1))
                | "CountPairs" >> beam.CombinePerKey(sum)
                | "Repeated" >> beam.Filter(lambda pair_count: pair_count[1] > 1))
    duplicate_count = repeated | "CountRepeated" >> beam.combiners.Count.Globally()
    some_duplicates = repeated | "SomeRepeated" >> beam.combiners.Top.Smallest(_REPORTED_LINES)
    _ = (pipeline | "CheckTrigger" >> beam.Create([None])
         | "CheckInput" >> beam.Map(
             check_input, beam.pvalue.AsSingleton(count), beam.pvalue.AsSingleton(report),
             beam.pvalue.AsSingleton(duplicate_count), beam.pvalue.AsSingleton(some_duplicates),
             int(exec_properties.get(MAX_MALFORMED_LINES_KEY) or 0), source))
    return examples


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Writes each split in reading order, without TFX's shuffle before the write.

    TFX's `WriteSplit` Reshuffles every split first; Beam's in-memory DirectRunner (our local
    runner) holds a shuffle's whole input in the process, so every serialized example was in
    memory at once (≈ 12 GB at 10M ratings, docs/benchmarks.md). The order buys nothing here:
    the Trainer puts the examples in a canonical order of its own, and TFT, TFDV and TFMA
    don't depend on it.
    """

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _MovieLensToExample

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
            for split_name, split in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                prefix = os.path.join(artifact_utils.get_split_uri(outputs, split_name),
                                      write_split.DEFAULT_TF_RECORD_FILE_NAME)
                _ = (split
                     | f"Serialize[{split_name}]" >> beam.ParDo(write_split.MaybeSerialize())
                     | f"Write[{split_name}]" >> beam.io.WriteToTFRecord(
                         prefix, file_name_suffix=".gz"))
        examples_utils.set_payload_format(
            examples, exec_properties[standard_component_specs.OUTPUT_DATA_FORMAT_KEY])
        examples_utils.set_file_format(examples, write_split.to_file_format_str(
            exec_properties[standard_component_specs.OUTPUT_FILE_FORMAT_KEY]))


class MovieLensExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        TFDS_NAME_KEY: ExecutionParameter(type=str, optional=True),
        MAX_MALFORMED_LINES_KEY: ExecutionParameter(type=int),
        # Part of the cache key: a change to this component's code re-runs it.
        CODE_FINGERPRINT_KEY: ExecutionParameter(type=str),
    }


class MovieLensExampleGen(FileBasedExampleGen):
    """ExampleGen for MovieLens: a GroupLens archive or folder, or a TFDS dataset.

    `input_base` is the folder holding the data; `file_pattern` the archive's name in it
    ("*" = the folder itself is the extracted archive). For TFDS, `input_base` is a folder
    that describes the source (its fingerprint is the cache key) and `tfds_name` names it.
    """

    SPEC_CLASS = MovieLensExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(self, input_base: str, file_pattern: str = "*", train_percent: int = 80,
                 max_malformed_lines: int = 0, tfds_name: str = "",
                 code_fingerprint: str = "") -> None:
        if not 0 < train_percent < 100:
            raise ValueError(f"train_percent must be in 1..99, got {train_percent}")
        if max_malformed_lines < 0:
            raise ValueError(f"max_malformed_lines must be >= 0, got {max_malformed_lines}")
        input_config = utils.make_default_input_config(file_pattern)
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train_percent),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=100 - train_percent),
        ]))
        spec = MovieLensExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            tfds_name=tfds_name,
            max_malformed_lines=max_malformed_lines,
            code_fingerprint=code_fingerprint,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen's own __init__ builds its own spec: skip to the base class. Being a
        # FileBasedExampleGen makes orchestrators (Kubeflow V2) run the file-based driver.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
