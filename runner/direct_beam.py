"""Local Beam runs without TFX packaging itself for remote workers.

Every Beam-based TFX executor (ExampleGen, StatisticsGen, Transform, the Evaluator) given any
Beam argument builds an sdist of the installed TFX (`tfx.utils.dependency_utils`), so that
remote workers such as Dataflow's can install it: 4-10 s per component on our 2-core machine,
on every cold run, most of a Beam component's fixed cost on ML-100K (docs/benchmarks.md).
DirectRunner's workers are threads or processes of this machine with this very environment,
so the package is built and never used. Each executor's own Beam arguments decide: Kubeflow,
Vertex and a `--runner` other than the DirectRunner keep TFX's behaviour.
"""

from typing import List, Sequence

DIRECT_RUNNERS = (None, "DirectRunner", "direct", "BundleBasedDirectRunner",
                  "SwitchingDirectRunner")


def runs_on_this_machine(beam_args: Sequence[str]) -> bool:
    """Whether `beam_args` leave Beam on the DirectRunner (no `--runner`, or a direct one)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    return PipelineOptions(list(beam_args)).view_as(StandardOptions).runner in DIRECT_RUNNERS


def skip_tfx_packaging_on_direct_runner() -> None:
    """From now on in this process, a TFX Beam executor whose Beam arguments run on the
    DirectRunner keeps them as they are (no `--extra_package` of an ephemeral TFX sdist);
    any other keeps TFX's packaging. Calling it again changes nothing."""
    from tfx.utils import dependency_utils

    tfx_flags = dependency_utils.make_beam_dependency_flags
    if getattr(tfx_flags, "__wrapped__", None) is not None:
        return  # already in place

    def dependency_flags(beam_pipeline_args: List[str]) -> List[str]:
        if runs_on_this_machine(beam_pipeline_args):
            return beam_pipeline_args
        return tfx_flags(beam_pipeline_args)

    dependency_flags.__wrapped__ = tfx_flags
    dependency_utils.make_beam_dependency_flags = dependency_flags
