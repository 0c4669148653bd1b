"""A rolling window of spans: which Examples the Trainer and Transform read when the data
arrives as dated drops (movielens/source.py), and the Trainer that evaluates on the newest.

The protocol. ExampleGen ingests one span per run and splits it train/eval as configured
(`--split time` puts a span's latest ratings in its eval). The Trainer trains on the train
splits of the last N spans up to the ingested one (`SpanWindowStrategy(window=N)`); Transform
builds its vocabularies from every span up to it (`window=0`), so the movie vocabulary, the
retrieval catalog, is every title seen so far. The Trainer's own evaluation
(`NewestSpanEvalExecutor`) and the Evaluator (the run's ExampleGen output) score only the
ingested span's eval split: ratings that neither the candidate nor the served baseline (trained
on earlier spans) has trained on.

Not TFX's SpanRangeStrategy: it returns every artifact in range, so a span that ExampleGen
read twice (after a code change, say) would be read twice; and its rolling range ends at the
newest span in MLMD, where a run that ingests an earlier span (`--span N`) must end at N.
Neither strategy compiles for Kubeflow Pipelines v2 (only TFX's latest-artifact and
latest-blessed-model strategies do), so spans are local-only (pipeline/pipeline.py).
"""

from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.trainer import fn_args_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.common import resolver
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils, proto_utils

import names
from components.counted_trainer import CountedExecutor, CountedTrainer

CURRENT_KEY = "current"  # the run's ExampleGen output: the span the window ends at
EXAMPLES_KEY = "examples"  # every Examples artifact of the pipeline's ExampleGen
WINDOW_KEY = "window"  # the strategy's config: spans to keep, 0 = every span
# Every ExampleStatistics and every ExampleAnomalies of the pipeline: which spans were refused.
STATISTICS_KEY = "statistics"
CHECKS_KEY = "checks"


def span_of(artifact: types.Artifact) -> int:
    """The artifact's span, as TFX's ExampleGen driver records it (an int; a string in old
    TFX versions, which SpanRangeStrategy also reads)."""
    text = artifact.get_string_custom_property(example_gen_utils.SPAN_PROPERTY_NAME)
    return int(text) if text else artifact.get_int_custom_property(
        example_gen_utils.SPAN_PROPERTY_NAME)


def _recency(artifact: types.Artifact) -> Tuple[int, int]:
    """Which of two artifacts of one span is the later: the higher version, then the newer
    MLMD id (ExampleGen ran on the span again)."""
    return (artifact.get_int_custom_property(example_gen_utils.VERSION_PROPERTY_NAME),
            artifact.id)


def refused_spans(statistics: Iterable[types.Artifact], checks: Iterable[types.Artifact]
                  ) -> Set[int]:
    """The spans a gate refused: StatisticsGen ran on them (they have statistics) but no
    DriftGate output says they passed (`names.DRIFT_PASSED_KEY`; DriftGate runs after
    AnomaliesGate, so passing it means passing both). A refused span stays out of later windows,
    vocabularies and drift comparisons until a run on it passes (e.g. after the drop is
    fixed); without that, one bad drop would be trained on and would make every later span
    look drifted. A span ingested without statistics (ExampleGen alone) is not refused."""
    passed = {artifact.span for artifact in checks
              if artifact.get_int_custom_property(names.DRIFT_PASSED_KEY) == 1}
    return {artifact.span for artifact in statistics} - passed


def span_window(current: types.Artifact, examples: List[types.Artifact],
                window: int, refused: Iterable[int] = ()) -> List[types.Artifact]:
    """The latest artifact of each of the last `window` spans up to `current`'s (every span up
    to it when `window` is 0; fewer when fewer exist), in span order.

    `current` stands for its own span whatever else MLMD holds for it: it is what this run's
    ExampleGen produced (or found cached), and the Evaluator scores it. Artifacts of another
    source (`names.EXAMPLES_INPUT_BASE_KEY`: another drops folder read into the same pipeline)
    are left out, and so are the `refused` spans (`refused_spans`) other than `current`'s.
    """
    if window < 0:
        raise ValueError(f"window must be >= 0 (0 = every span), got {window}")
    span = span_of(current)
    source = current.get_string_custom_property(names.EXAMPLES_INPUT_BASE_KEY)
    latest: Dict[int, types.Artifact] = {}
    refused = set(refused)
    for artifact in examples:
        other = span_of(artifact)
        if (other >= span or other in refused or artifact.get_string_custom_property(
                names.EXAMPLES_INPUT_BASE_KEY) != source):
            continue
        if other not in latest or _recency(artifact) > _recency(latest[other]):
            latest[other] = artifact
    latest[span] = current
    spans = sorted(latest)
    return [latest[n] for n in (spans[-window:] if window else spans)]


class SpanWindowStrategy(resolver.ResolverStrategy):
    """Resolves `examples` to the window of spans ending at `current`'s span (`span_window`);
    `current` is passed through (TFX wants every input key back)."""

    def __init__(self, window: int = 0) -> None:
        self._window = int(window)

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        for key in (CURRENT_KEY, EXAMPLES_KEY):
            if any(not isinstance(a, standard_artifacts.Examples) for a in input_dict.get(key, [])):
                raise RuntimeError(f"{key} must hold Examples artifacts")
        current = input_dict.get(CURRENT_KEY, [])
        if len(current) != 1:
            raise RuntimeError(f"{CURRENT_KEY} must be the one Examples artifact ExampleGen "
                               f"produced in this run, got {len(current)}")
        refused = refused_spans(input_dict.get(STATISTICS_KEY, []),
                                input_dict.get(CHECKS_KEY, []))
        return {**input_dict, CURRENT_KEY: current,
                EXAMPLES_KEY: span_window(current[0], input_dict.get(EXAMPLES_KEY, []),
                                          self._window, refused)}


def newest_span(examples: List[types.Artifact]) -> types.Artifact:
    """The newest span's artifact (the latest one of that span) among `examples`."""
    return max(examples, key=lambda a: (span_of(a),) + _recency(a))


def newest_span_files(examples: List[types.Artifact], splits: List[str]) -> List[str]:
    """One file pattern per split of the newest span's artifact among `examples`."""
    newest = newest_span(examples)
    return [io_utils.all_files_pattern(artifact_utils.get_split_uri([newest], split))
            for split in splits]


class NewestSpanEvalExecutor(CountedExecutor):
    """The Trainer's executor (CountedExecutor: TFX's, with the expected row counts), with
    `eval_files` from the newest span's artifact alone.

    TFX lists the eval split of every Examples artifact the Trainer gets; with a window, the
    Trainer's own evaluation (Keras's metrics, the per-user ranking metrics that
    `min_ndcg_at_10` gates on) would then score older spans too, not what the Evaluator
    scores. `train_files` keep every span of the window.
    """

    def eval_artifacts(self, examples: Sequence[types.Artifact]) -> Sequence[types.Artifact]:
        return [newest_span(list(examples))]

    def _GetFnArgs(self, input_dict: Dict[str, List[types.Artifact]],
                   output_dict: Dict[str, List[types.Artifact]],
                   exec_properties: Dict[str, Any]) -> fn_args_utils.FnArgs:
        fn_args = super()._GetFnArgs(input_dict, output_dict, exec_properties)
        eval_args = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.EVAL_ARGS_KEY],
            trainer_pb2.EvalArgs())
        fn_args.eval_files = newest_span_files(
            input_dict[standard_component_specs.EXAMPLES_KEY], list(eval_args.splits) or ["eval"])
        return fn_args


class SpanWindowTrainer(CountedTrainer):
    """The Trainer with `NewestSpanEvalExecutor`: for a window of spans."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(NewestSpanEvalExecutor)
