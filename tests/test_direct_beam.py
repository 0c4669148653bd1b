"""Local Beam runs skip TFX's self-packaging for remote workers; other runners keep it."""

import sys

import pytest
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.utils import dependency_utils

from pipeline.configs import PipelineConfig
from runner import direct_beam

PACKAGE = "--extra_package=/tmp/tfx_ephemeral.tar.gz"


class _BeamExecutor(BaseBeamExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        pass


@pytest.fixture
def packaging(monkeypatch):
    """TFX's own function in place (whatever an earlier run in this process installed), its
    sdist builds recorded instead of made; both restored afterwards."""
    builds = []
    # TFX's executor parses sys.argv + the Beam arguments as absl flags: pytest's own
    # arguments (-v reads as absl's --verbosity) are not the executor's.
    monkeypatch.setattr(sys, "argv", sys.argv[:1])
    installed = dependency_utils.make_beam_dependency_flags
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                        getattr(installed, "__wrapped__", installed))
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package",
                        lambda: builds.append(1) or PACKAGE.split("=")[1])
    return builds


def _executor_args(beam_args):
    context = BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args))
    return _BeamExecutor(context)._beam_pipeline_args


def test_the_local_runs_beam_args_build_no_tfx_package(packaging):
    args = list(PipelineConfig.beam_pipeline_args)
    assert PACKAGE in _executor_args(args) and packaging == [1]  # TFX's way
    direct_beam.skip_tfx_packaging_on_direct_runner()
    direct_beam.skip_tfx_packaging_on_direct_runner()  # twice: still one wrapper
    beam_args = _executor_args(args + ["--direct_num_workers=2"])
    assert beam_args[:len(args) + 1] == args + ["--direct_num_workers=2"]
    assert not any(arg.startswith("--extra_package") for arg in beam_args)
    assert packaging == [1]  # no second build


@pytest.mark.parametrize("runner", ["DataflowRunner", "PortableRunner"])
def test_a_remote_runner_keeps_tfx_s_package(packaging, runner):
    direct_beam.skip_tfx_packaging_on_direct_runner()
    assert not direct_beam.runs_on_this_machine([f"--runner={runner}"])
    assert PACKAGE in _executor_args([f"--runner={runner}"]) and packaging == [1]
