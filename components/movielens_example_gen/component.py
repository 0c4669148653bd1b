"""MovieLensExampleGen: MovieLens ratings (GroupLens files or TFDS) → tf.Examples, split.

Unlike CsvExampleGen it keeps ids as strings (serving requests carry "42", not 42), joins the
movies file (and the users file, where the archive has one) so each example carries TFDS's
side features that the source has, and counts every malformed line with its file and line (or
byte offset): past `max_malformed_lines` the component fails with the report.
"""

from typing import Optional

from tfx import types
from tfx.components.example_gen import driver, utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.code_fingerprint import code_fingerprint
from components.movielens_example_gen import executor, time_split
from names import CODE_FINGERPRINT_KEY

DATA_FINGERPRINT_KEY = "data_fingerprint"


class MovieLensExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        executor.TFDS_NAME_KEY: ExecutionParameter(type=str, optional=True),
        executor.MAX_MALFORMED_LINES_KEY: ExecutionParameter(type=int),
        time_split.SPLIT_BY_KEY: ExecutionParameter(type=str, optional=True),
        # Part of the cache key: a change to this component's code re-runs it.
        CODE_FINGERPRINT_KEY: ExecutionParameter(type=str),
        # Part of the cache key too: the input files' sizes and nanosecond times (TFX's own
        # fingerprint has whole seconds, so a same-size rewrite within a second looked cached).
        DATA_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
    }


class MovieLensExampleGen(FileBasedExampleGen):
    """ExampleGen for MovieLens: a GroupLens archive or folder, or a TFDS dataset.

    `input_base` is the folder holding the data; `file_pattern` the archive's name in it
    ("*" = the folder itself is the extracted archive). Both are glob patterns to TFX: pass
    literal paths through `glob.escape`. For TFDS, `input_base` is a folder that describes
    the source (its fingerprint is the cache key) and `tfds_name` names it.

    Spans: a `file_pattern` with TFX's `{SPAN}` placeholder (`span-{SPAN}`, `span-{SPAN}.zip`)
    names one span folder or archive of `input_base`; TFX's FileBasedDriver picks the span
    (`span`, through a static RangeConfig, else the newest) and records it, as TFX's own
    ExampleGens do, as the `span` custom property of the Examples artifact.
    """

    SPEC_CLASS = MovieLensExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(self, input_base: str, file_pattern: str = "*", train_percent: int = 80,
                 max_malformed_lines: int = 0, tfds_name: str = "",
                 data_fingerprint: str = "", split_by: str = time_split.HASH,
                 span: Optional[int] = None) -> None:
        """`split_by`: "hash" (TFX's hash split of the examples) or "time" (train before one
        cut-off time, eval after: `time_split.py`); `train_percent` is train's share. `span`:
        the span to read (needs `{SPAN}` in `file_pattern`; None: the newest, if it has one)."""
        if split_by not in time_split.SPLIT_METHODS:
            raise ValueError(f"split_by must be one of {time_split.SPLIT_METHODS}, got "
                             f"{split_by!r}")
        if not 0 < train_percent < 100:
            raise ValueError(f"train_percent must be in 1..99, got {train_percent}")
        if max_malformed_lines < 0:
            raise ValueError(f"max_malformed_lines must be >= 0, got {max_malformed_lines}")
        range_config = None
        if span is not None:
            if utils.SPAN_SPEC not in file_pattern:
                raise ValueError(f"span {span} needs a file_pattern with {utils.SPAN_SPEC}, got "
                                 f"{file_pattern!r}")
            if span < 0:
                raise ValueError(f"span must be >= 0, got {span}")
            range_config = range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
                start_span_number=span, end_span_number=span))
        input_config = utils.make_default_input_config(file_pattern)
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train_percent),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=100 - train_percent),
        ]))
        spec = MovieLensExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            tfds_name=tfds_name,
            max_malformed_lines=max_malformed_lines,
            split_by=split_by,
            code_fingerprint=code_fingerprint([executor.__name__, time_split.__name__]),
            data_fingerprint=data_fingerprint,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen's own __init__ builds its own spec: skip to the base class. Being a
        # FileBasedExampleGen makes orchestrators (Kubeflow V2) run the file-based driver.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
