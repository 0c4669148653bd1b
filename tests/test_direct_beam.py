"""Local Beam runs skip TFX's self-packaging for remote workers; other runners keep it."""

import pytest
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.utils import dependency_utils

from pipeline.configs import PipelineConfig
from runner import direct_beam


class _BeamExecutor(BaseBeamExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        pass


@pytest.fixture
def packaging(monkeypatch):
    """Records TFX's sdist builds instead of building; restores TFX's function afterwards."""
    builds = []
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                        dependency_utils.make_beam_dependency_flags)
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package",
                        lambda: builds.append(1) or "/tmp/tfx_ephemeral.tar.gz")
    return builds


def _executor_args(beam_args):
    context = BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args))
    return _BeamExecutor(context)._beam_pipeline_args


def test_the_local_runs_beam_args_build_no_tfx_package(packaging):
    args = PipelineConfig.beam_pipeline_args
    assert _executor_args(args)[:len(args)] == list(args) and packaging == [1]  # TFX's way
    assert direct_beam.skip_tfx_packaging(args)
    beam_args = _executor_args(list(args) + ["--direct_num_workers=2"])
    assert not any(arg.startswith("--extra_package") for arg in beam_args)
    assert packaging == [1]  # no second build


@pytest.mark.parametrize("runner", ["DataflowRunner", "PortableRunner"])
def test_a_remote_runner_keeps_tfx_s_package(packaging, runner):
    args = [f"--runner={runner}"]
    assert not direct_beam.skip_tfx_packaging(args)
    assert "--extra_package=/tmp/tfx_ephemeral.tar.gz" in _executor_args(args)
