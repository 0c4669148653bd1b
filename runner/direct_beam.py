"""Local Beam runs without TFX packaging itself for remote workers.

Every Beam-based TFX executor (ExampleGen, StatisticsGen, Transform, the Evaluator) given any
Beam argument builds an sdist of the installed TFX (`tfx.utils.dependency_utils`), so that
remote workers such as Dataflow's can install it: 4-10 s per component on our 2-core machine,
on every cold run, most of a Beam component's fixed cost on ML-100K (docs/benchmarks.md).
DirectRunner's workers are threads or processes of this machine with this very environment,
so the package is built and never used. Kubeflow, Vertex and a `--runner` other than the
DirectRunner keep TFX's behaviour.
"""

from typing import Sequence

DIRECT_RUNNERS = (None, "DirectRunner", "direct", "BundleBasedDirectRunner",
                  "SwitchingDirectRunner")


def runs_on_this_machine(beam_args: Sequence[str]) -> bool:
    """Whether `beam_args` leave Beam on the DirectRunner (no `--runner`, or a direct one)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    return PipelineOptions(list(beam_args)).view_as(StandardOptions).runner in DIRECT_RUNNERS


def skip_tfx_packaging(beam_args: Sequence[str]) -> bool:
    """Makes TFX's Beam executors in this process keep their Beam arguments as they are (no
    `--extra_package` of an ephemeral TFX sdist) when `beam_args` run on the DirectRunner.
    Returns whether it did."""
    if not runs_on_this_machine(beam_args):
        return False
    from tfx.utils import dependency_utils

    dependency_utils.make_beam_dependency_flags = _unchanged
    return True


def _unchanged(beam_pipeline_args):
    return beam_pipeline_args
