"""The Transform executor that reads an artifact's analyzed splits as one dataset: which
patterns it merges, and that it writes what TFX's own executor writes."""

import filecmp
import os
import shutil

from tfx.components.transform import executor as tfx_executor
from tfx.components.transform import labels
from tfx.types import Channel, standard_artifacts

from components.transform import executor
from names import PROJECT_ROOT
from pipeline.pipeline import transform_component
from tests import movielens_fixture
from tests.test_example_gen import _run_executor


def _artifact(root, name, splits):
    for split in splits:
        os.makedirs(os.path.join(root, name, f"Split-{split}"))
    return os.path.join(root, name)


def test_an_artifact_whose_every_split_is_analyzed_becomes_one_pattern(tmp_path):
    both = _artifact(tmp_path, "a", ["train", "eval"])
    paths = [f"{both}/Split-train/*", f"{both}/Split-eval/*"]
    assert executor.one_pattern_per_artifact(paths, ["gz", "gz"]) == (
        [f"{both}/Split-*/*"], ["gz"])


def test_partly_analyzed_mixed_format_and_foreign_patterns_are_left_alone(tmp_path):
    three = _artifact(tmp_path, "three", ["train", "eval", "extra"])
    mixed = _artifact(tmp_path, "mixed", ["train", "eval"])
    whole = _artifact(tmp_path, "whole", ["train", "eval"])
    paths = [f"{three}/Split-train/*", f"{three}/Split-eval/*",  # "extra" is not analyzed
             f"{mixed}/Split-train/*", f"{mixed}/Split-eval/*",
             "/somewhere/else/*.gz",
             f"{whole}/Split-eval/*", f"{whole}/Split-train/*"]
    formats = ["gz", "gz", "gz", "tfrecord", "gz", "gz", "gz"]
    merged_paths, merged_formats = executor.one_pattern_per_artifact(paths, formats)
    assert merged_paths == paths[:5] + [f"{whole}/Split-*/*"]
    assert merged_formats == formats[:5] + ["gz"]


def _transform(executor_class, examples, schema, out_dir) -> str:
    component = transform_component(Channel(type=standard_artifacts.Examples),
                                    Channel(type=standard_artifacts.Schema))
    graph = standard_artifacts.TransformGraph()
    graph.uri = out_dir
    executor_class().Do({"examples": [examples], "schema": [schema]},
                        {"transform_graph": [graph]}, dict(component.exec_properties))
    return out_dir


def test_the_executor_reads_both_splits_at_once_and_writes_what_tfx_s_executor_writes(
        tmp_path, monkeypatch):
    """TFT gets one analysis pattern for the artifact (no Flatten of two reads) from ours, one
    per split from TFX's; the vocabularies are byte for byte the same."""
    data = movielens_fixture.write_ml100k(str(tmp_path / "data"), num_users=40, num_movies=80)
    examples, _ = _run_executor(tmp_path, data)
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    shutil.copy(os.path.join(PROJECT_ROOT, "pipeline", "schema.pbtxt"), schema.uri)
    analyzed = []
    tfx_transform = tfx_executor.TransformProcessor.Transform

    def spy(self, inputs, outputs, status_file=None):
        analyzed.append(list(inputs[labels.ANALYZE_DATA_PATHS_LABEL]))
        return tfx_transform(self, inputs, outputs, status_file)

    monkeypatch.setattr(tfx_executor.TransformProcessor, "Transform", spy)
    ours = _transform(executor.Executor, examples, schema, str(tmp_path / "ours"))
    tfx = _transform(tfx_executor.Executor, examples, schema, str(tmp_path / "tfx"))
    assert analyzed == [[os.path.join(examples.uri, "Split-*", "*")],
                        [os.path.join(examples.uri, f"Split-{split}", "*")
                         for split in ("train", "eval")]]
    assert tfx_executor.TransformProcessor.Transform is spy  # ours put TFX's processor back
    vocabularies = os.path.join("transform_fn", "assets")
    files = sorted(os.listdir(os.path.join(tfx, vocabularies)))
    assert files and files == sorted(os.listdir(os.path.join(ours, vocabularies)))
    for name in files:
        assert filecmp.cmp(os.path.join(ours, vocabularies, name),
                           os.path.join(tfx, vocabularies, name), shallow=False), name
