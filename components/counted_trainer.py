"""CountedTrainer: TFX's Trainer, whose run_fn also learns how many examples its train and
eval files hold, as ExampleGen recorded them, so that it can check the rows it read.

Why: the Trainer reads ExampleGen's files itself (models/data.py::load_columns); a file that a
lost worker never finished, or one another stage's bug left short, would train on less than
the data without a word. The expected counts travel in `fn_args.custom_config` under
`names.EXPECTED_ROWS_KEY` ({"train": n, "eval": n}; a split is absent when an Examples artifact
has no record counts), and run_fn fails with models.data.RecordCountError on a difference.
"""

from typing import Any, Dict, List, Optional, Sequence

from tfx import types
from tfx.components import Trainer
from tfx.components.trainer import executor as trainer_executor
from tfx.components.trainer import fn_args_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

import names
from components import record_counts


def _splits(exec_properties: Dict[str, Any], key: str, message, default: str) -> List[str]:
    """The splits of the Trainer's TrainArgs / EvalArgs (TFX's default when it names none)."""
    args = proto_utils.json_to_proto(exec_properties.get(key) or "{}", message)
    return list(args.splits) or [default]


class CountedExecutor(trainer_executor.GenericExecutor):
    """TFX's generic Trainer executor, with the expected row counts in custom_config."""

    def eval_artifacts(self, examples: Sequence[types.Artifact]) -> Sequence[types.Artifact]:
        """The Examples artifacts whose eval splits `eval_files` lists: all of them."""
        return examples

    def _GetFnArgs(self, input_dict: Dict[str, List[types.Artifact]],
                   output_dict: Dict[str, List[types.Artifact]],
                   exec_properties: Dict[str, Any]) -> fn_args_utils.FnArgs:
        fn_args = super()._GetFnArgs(input_dict, output_dict, exec_properties)
        examples = input_dict[standard_component_specs.EXAMPLES_KEY]
        expected: Dict[str, Optional[int]] = {
            "train": record_counts.expected_examples(
                examples, _splits(exec_properties, standard_component_specs.TRAIN_ARGS_KEY,
                                  trainer_pb2.TrainArgs(), "train")),
            "eval": record_counts.expected_examples(
                self.eval_artifacts(examples),
                _splits(exec_properties, standard_component_specs.EVAL_ARGS_KEY,
                        trainer_pb2.EvalArgs(), "eval"))}
        fn_args.custom_config = {
            **(fn_args.custom_config or {}),
            names.EXPECTED_ROWS_KEY: {split: n for split, n in expected.items() if n is not None}}
        return fn_args


class CountedTrainer(Trainer):
    """TFX's Trainer with `CountedExecutor`."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(CountedExecutor)
