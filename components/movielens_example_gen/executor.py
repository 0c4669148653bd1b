"""MovieLensExampleGen's executor: a GroupLens archive or TFDS dataset → split tf.Examples.

The reading and parsing are in `parsing.py` (GroupLens) and `examples.py` (both sources); here
they are put together with the input checks: more malformed lines than `max_malformed_lines`
fail the component with a report naming each file and line, any duplicate (user, movie)
rating fails it whatever the tolerance, and so does an input with no usable rating.
"""

import logging
import os
from typing import Any, Dict, List, Tuple

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, utils, write_split
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

import names
from components.movielens_example_gen import parsing
from components.movielens_example_gen.examples import tfds_ratings
from movielens import grouplens

TFDS_NAME_KEY = "tfds_name"
MAX_MALFORMED_LINES_KEY = "max_malformed_lines"
_REPORTED_LINES = 20


class MalformedDataError(ValueError):
    """The input has more malformed lines than tolerated (or no usable rating at all)."""


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
    return (feature[names.USER_ID].bytes_list.value[0],
            feature[names.MOVIE_ID].bytes_list.value[0])


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
        examples = (pipeline | "TfdsName" >> beam.Create([tfds_name])
                    | "ReadTfds" >> beam.FlatMap(tfds_ratings))
        malformed = pipeline | "NoMalformed" >> beam.Create([])
    else:
        source = input_base if split_pattern == "*" else os.path.join(input_base, split_pattern)
        examples, malformed = parsing.read_ratings(pipeline, grouplens.locate(source))
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
