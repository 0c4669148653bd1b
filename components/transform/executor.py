"""TFX's Transform executor, reading all of an Examples artifact's analyzed splits as one
dataset instead of one per split.

Why: TFX gives TFT one dataset per (artifact, split), and TFT's analysis flattens them into one
PCollection. Beam's portable runner (the DirectRunner's) materializes every Flatten of several
inputs (`fn_api_runner/translations.py::sink_flattens`): every record batch of train and eval
was held in a buffer, then read back whole. At 10M ratings Transform's process peaked at
6.1 GB that way; reading once, at 1.2 GB (docs/benchmarks.md). When the
analyzed splits are all of an artifact's splits, one glob over its split folders reads the
same files as one dataset: no Flatten, and the reading fuses with the analysis.

The analysis sees the same records, so the vocabularies and the transform graph are the same.
Artifacts whose analyzed splits are only some of their splits keep TFX's one dataset per split;
several artifacts (the spans of a window) stay several datasets, flattened as before.

Once TFT has written the transform graph, the executor reconciles what the analysis read with
ExampleGen's record counts (components/record_counts.py): the examples analyzed (the frequency
in `names.ANALYZED_EXAMPLES_VOCABULARY`) and the id vocabularies' sizes against the distinct
users and titles ExampleGen wrote. A difference fails Transform, naming both counts.
"""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.transform import executor as tfx_executor
from tfx.components.transform import labels
from tfx.proto import transform_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

import names
from components import record_counts

# How TFX names what it analyzes: `<artifact uri>/Split-<split>` (artifact_utils.get_split_uri),
# all files in it (io_utils.all_files_pattern).
_SPLIT_PREFIX = "Split-"
_ALL_FILES = "*"


def _split_folder_and_uri(pattern: str) -> Optional[Tuple[str, str]]:
    """(split folder name, artifact uri) of TFX's `<uri>/Split-<name>/*`, else None."""
    folder, files = os.path.split(pattern)
    uri, split_folder = os.path.split(folder)
    if files != _ALL_FILES or not split_folder.startswith(_SPLIT_PREFIX):
        return None
    return split_folder, uri


def _split_folders(uri: str) -> Set[str]:
    return {os.path.basename(folder.rstrip("/"))
            for folder in tf.io.gfile.glob(os.path.join(uri, _SPLIT_PREFIX + "*"))}


def one_pattern_per_artifact(paths: Sequence[str], file_formats: Sequence[Any]
                             ) -> Tuple[List[str], List[Any]]:
    """The analyze paths and their file formats, with the patterns of an artifact whose every
    split is analyzed replaced by one pattern over all its split folders (`<uri>/Split-*/*`),
    where its first split's pattern was.

    Left as they are: a path not of TFX's `<uri>/Split-<name>/*` form, and the patterns of an
    artifact with a split that is not analyzed or with splits of different file formats.
    """
    parsed = [_split_folder_and_uri(path) for path in paths]
    analyzed: Dict[str, Set[str]] = {}
    formats: Dict[str, Set[Any]] = {}
    for split_and_uri, file_format in zip(parsed, file_formats):
        if split_and_uri is not None:
            split_folder, uri = split_and_uri
            analyzed.setdefault(uri, set()).add(split_folder)
            formats.setdefault(uri, set()).add(file_format)
    whole = {uri for uri, splits in analyzed.items()
             if len(formats[uri]) == 1 and splits == _split_folders(uri)}
    merged_paths: List[str] = []
    merged_formats: List[Any] = []
    merged: Set[str] = set()
    for path, split_and_uri, file_format in zip(paths, parsed, file_formats):
        uri = split_and_uri[1] if split_and_uri is not None else None
        if uri not in whole:
            merged_paths.append(path)
            merged_formats.append(file_format)
        elif uri not in merged:
            merged.add(uri)
            merged_paths.append(os.path.join(uri, _SPLIT_PREFIX + "*", _ALL_FILES))
            merged_formats.append(file_format)
    return merged_paths, merged_formats


class _OneReadProcessor(tfx_executor.TransformProcessor):
    """TFX's TransformProcessor, given one analysis pattern per fully analyzed artifact."""

    def Transform(self, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                  status_file: Optional[str] = None) -> None:
        paths, file_formats = one_pattern_per_artifact(
            inputs[labels.ANALYZE_DATA_PATHS_LABEL],
            inputs[labels.ANALYZE_PATHS_FILE_FORMATS_LABEL])
        super().Transform({**inputs, labels.ANALYZE_DATA_PATHS_LABEL: paths,
                           labels.ANALYZE_PATHS_FILE_FORMATS_LABEL: file_formats},
                          outputs, status_file)


class Executor(tfx_executor.Executor):
    """TFX's Transform executor; the analysis reads each fully analyzed artifact once."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        # TFX's Do builds the analysis inputs and hands them straight to its module's
        # TransformProcessor, with no hook in between: ours stands in for it during the call
        # (executors run one at a time in a process).
        tfx_processor = tfx_executor.TransformProcessor
        tfx_executor.TransformProcessor = _OneReadProcessor
        try:
            super().Do(input_dict, output_dict, exec_properties)
        finally:
            tfx_executor.TransformProcessor = tfx_processor
        splits_config = proto_utils.json_to_proto(
            exec_properties.get(standard_component_specs.SPLITS_CONFIG_KEY) or "{}",
            transform_pb2.SplitsConfig())
        reconcile_analysis(
            tft.TFTransformOutput(artifact_utils.get_single_uri(
                output_dict[standard_component_specs.TRANSFORM_GRAPH_KEY])),
            input_dict[standard_component_specs.EXAMPLES_KEY],
            list(splits_config.analyze) or ["train"])


def analyzed_examples(tf_transform_output: tft.TFTransformOutput) -> int:
    """How many examples the analysis read (preprocessing.count_analyzed_examples)."""
    path = tf_transform_output.vocabulary_file_by_name(names.ANALYZED_EXAMPLES_VOCABULARY)
    with tf.io.gfile.GFile(path) as f:
        lines = f.read().split("\n")
    return sum(int(line.split(" ", 1)[0]) for line in lines if line.strip())


def reconcile_analysis(tf_transform_output: tft.TFTransformOutput,
                       examples: Sequence[Any], splits: Sequence[str]) -> None:
    """RecordCountError unless the analysis read every example of `splits` of `examples` and
    its id vocabularies hold every distinct user and title ExampleGen wrote.

    With several artifacts (the spans so far) a user or title may be in several, so their
    vocabulary sizes must lie between the largest artifact's count and the sum. Artifacts
    without record counts (from an older version) are not reconciled.
    """
    expected = record_counts.expected_examples(examples, splits)
    if expected is None:
        return
    record_counts.check_count("Transform's analysis", "+".join(splits),
                              analyzed_examples(tf_transform_output), expected)
    counts = [record_counts.read_counts(artifact) for artifact in examples]
    if any(set(splits) != set(count.splits) for count in counts):
        return  # distinct ids are counted over all of an artifact's splits
    for vocabulary, what, distinct in (
            (names.USER_VOCABULARY, "user ids", [count.users for count in counts]),
            (names.MOVIE_VOCABULARY, "titles", [count.titles for count in counts])):
        size = tf_transform_output.vocabulary_size_by_name(vocabulary)
        stage = f"Transform's vocabulary {vocabulary}"
        if len(counts) == 1:
            record_counts.check_count(stage, "+".join(splits), size, distinct[0],
                                      what=f"distinct {what}")
        elif not max(distinct) <= size <= sum(distinct):
            raise record_counts.RecordCountError(
                f"{stage} holds {size:,} distinct {what} but ExampleGen recorded between "
                f"{max(distinct):,} (the largest span's) and {sum(distinct):,} (their sum): "
                f"records were lost or duplicated between the stages")
    logging.info("Transform analyzed %s examples, as ExampleGen wrote", f"{expected:,}")
