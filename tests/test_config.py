"""Configuration checks and the code fingerprint that keeps caching honest."""

import dataclasses
import json
import os
import shutil

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

import names
from components.code_fingerprint import code_fingerprint, project_files
from components.eval_config import make_eval_config
from models.hparams import TrainingConfig
from movielens import source as data_source
from names import PROJECT_ROOT
from pipeline import configs
from tests import movielens_fixture


def test_training_config_round_trips_through_json():
    config = TrainingConfig(rating_weight=0.5, rating_layers=(64, 32))
    assert TrainingConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainingConfig.from_dict({"rating_wieght": 1.0})


EXAMPLE_GEN = "components.movielens_example_gen.executor"


def test_code_fingerprints_follow_what_each_executor_imports(tmp_path):
    """The fingerprint covers the entry module and every project module it imports, however
    indirectly, and nothing else: adding an import brings a module into the key."""
    for package in ("models", "components", "movielens", "pipeline"):
        shutil.copytree(f"{PROJECT_ROOT}/{package}", tmp_path / package)
    shutil.copy(f"{PROJECT_ROOT}/names.py", tmp_path / "names.py")
    root = str(tmp_path)
    example_gen, trainer, transform = (
        code_fingerprint([module], root=root) for module in (
            EXAMPLE_GEN, "models.run_fn", "models.preprocessing"))
    assert trainer == code_fingerprint(["models.run_fn"], root=root)  # stable

    def append(path: str, text: str) -> None:
        with open(tmp_path / path, "a") as f:
            f.write(text)

    append("models/model.py", "\n# a change\n")  # the Trainer's code, not Transform's
    assert code_fingerprint(["models.run_fn"], root=root) != trainer
    assert code_fingerprint(["models.preprocessing"], root=root) == transform
    append("names.py", "\n# a change\n")  # everyone's names
    example_gen_after = code_fingerprint([EXAMPLE_GEN], root=root)
    assert example_gen_after != example_gen
    assert code_fingerprint(["models.preprocessing"], root=root) != transform

    append("components/atomic_pusher.py", "\n# a change\n")  # not imported by ExampleGen...
    assert code_fingerprint([EXAMPLE_GEN], root=root) == example_gen_after
    append("components/movielens_example_gen/executor.py",
           "\nfrom components import atomic_pusher\n")
    with_import = code_fingerprint([EXAMPLE_GEN], root=root)
    append("components/atomic_pusher.py", "\n# another change\n")  # ...until it imports it
    assert code_fingerprint([EXAMPLE_GEN], root=root) != with_import
    assert "components/atomic_pusher.py" in {
        os.path.relpath(path, root)
        for path in project_files([EXAMPLE_GEN], root=root)}


def test_code_fingerprints_cover_the_installed_libraries(monkeypatch):
    from components import code_fingerprint as fingerprints

    before = code_fingerprint(["models.preprocessing"])
    assert fingerprints.library_versions()["tfx"] == "1.16.0"
    monkeypatch.setattr(fingerprints, "library_versions",
                        lambda: {**dict.fromkeys(fingerprints.LIBRARIES, ""), "tfx": "1.17.0"})
    assert code_fingerprint(["models.preprocessing"]) != before


def test_thresholds_follow_the_trained_tasks():
    rating_only = make_eval_config(TrainingConfig(rating_weight=1, retrieval_weight=0),
                                   configs.EvalThresholds())
    gated = [m.class_name for spec in rating_only.metrics_specs for m in spec.metrics
             if m.HasField("threshold")]
    assert gated == ["RootMeanSquaredError"]
    with pytest.raises(ValueError, match="value threshold max_rmse is off"):
        make_eval_config(TrainingConfig(), configs.EvalThresholds(None, None, None, None))


@pytest.mark.parametrize("thresholds, message, other_task_only", [
    (dict(max_rmse=None), "rating_weight is 1.0 but the value threshold max_rmse is off",
     dict(rating_weight=0.0)),
    (dict(min_top_100_accuracy=None),
     "retrieval_weight is 1.0 but the value threshold min_top_100_accuracy is off",
     dict(retrieval_weight=0.0)),
])
def test_a_trained_task_needs_a_value_threshold_not_only_a_change_threshold(
        thresholds, message, other_task_only):
    """With change thresholds only, the first run (no baseline) would bless anything; a task
    that does not train needs none."""
    with pytest.raises(ValueError, match=message):
        make_eval_config(TrainingConfig(), configs.EvalThresholds(**thresholds))
    make_eval_config(TrainingConfig(**other_task_only), configs.EvalThresholds(**thresholds))


def test_run_time_eval_config_follows_run_time_thresholds_and_weights(tmp_path):
    from components.gated_evaluator import runtime_eval_config
    from components.hyperparameters_gen import HYPERPARAMETERS_FILE

    def gates(eval_config_json):
        return {(m.class_name, json.loads(m.config)["name"]): m.threshold
                for spec in json_format.Parse(eval_config_json, tfma.EvalConfig()).metrics_specs
                for m in spec.metrics if m.HasField("threshold")}

    properties = {"training_config": TrainingConfig().to_json(),
                  **configs.EvalThresholds(max_rmse=0.9, max_rmse_increase=None).as_parameters()}
    thresholds = gates(runtime_eval_config(properties, None))
    rmse = thresholds[("RootMeanSquaredError", "root_mean_squared_error")]
    assert rmse.value_threshold.upper_bound.value == pytest.approx(0.9)
    assert not rmse.HasField("change_threshold")  # -1: off
    (tmp_path / HYPERPARAMETERS_FILE).write_text(json.dumps(
        {"space": [], "values": {"rating_weight": 0.0}}))  # a run that trains retrieval only
    assert [name for _, name in gates(runtime_eval_config(properties, str(tmp_path)))] == [
        "top_100_categorical_accuracy"]
    with pytest.raises(ValueError, match="max_rmse must be a number >= 0"):
        configs.EvalThresholds(max_rmse=float("nan"))


def test_data_sources_are_validated(tmp_path):
    with pytest.raises(data_source.DataSourceError, match="does not exist"):
        data_source.resolve(str(tmp_path / "nope"), str(tmp_path))
    (tmp_path / "data.csv").write_text("x")
    with pytest.raises(data_source.DataSourceError, match="neither a folder nor a .zip"):
        data_source.resolve(str(tmp_path / "data.csv"), str(tmp_path))
    with pytest.raises(data_source.DataSourceError, match="expected tfds:movielens"):
        data_source.resolve("tfds:mnist", str(tmp_path))
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(b"")
    with pytest.raises(data_source.DataSourceError, match="neither a folder nor a zip"):
        data_source.resolve(str(archive), str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(data_source.DataSourceError, match="no known ratings file"):
        data_source.resolve(str(tmp_path / "empty"), str(tmp_path))
    folder = movielens_fixture.write_ml100k(str(tmp_path / "top" / "ml-100k"), num_ratings=10)
    zipped = movielens_fixture.zip_folder(folder, str(tmp_path / "ml.zip"))
    ratings_bytes = os.path.getsize(os.path.join(folder, "u.data"))
    assert dataclasses.replace(data_source.resolve(zipped, str(tmp_path)), fingerprint="") == \
        data_source.ResolvedSource(str(tmp_path), "ml.zip",
                                   ratings_uncompressed_bytes=ratings_bytes)
    # A parent folder resolves to the folder holding the files, which the driver fingerprints.
    resolved = data_source.resolve(str(tmp_path / "top"), str(tmp_path))
    assert dataclasses.replace(resolved, fingerprint="") == data_source.ResolvedSource(
        folder, "*", ratings_bytes=ratings_bytes, ratings_uncompressed_bytes=ratings_bytes)


def test_a_same_size_rewrite_in_the_same_second_changes_examplegen_s_cache_key(tmp_path):
    """TFX's driver fingerprints files by size and whole-second mtime; ExampleGen also gets the
    files' nanosecond times, so a same-size rewrite within one second is not read as cached."""
    from pipeline.pipeline import Mode, create_pipeline

    folder = movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_ratings=20)
    ratings = os.path.join(folder, "u.data")
    second = 1_700_000_000 * 10**9
    os.utime(ratings, ns=(second, second + 1000))
    before = data_source.resolve(folder, str(tmp_path)).fingerprint
    with open(ratings, "rb") as f:
        data = f.read()
    with open(ratings, "wb") as f:  # one rating changed, same size
        f.write(data.replace(b"\t4\t", b"\t5\t", 1))
    os.utime(ratings, ns=(second, second + 2000))
    after = data_source.resolve(folder, str(tmp_path))
    assert after.fingerprint != before and len(after.fingerprint) == 64
    config = configs.PipelineConfig(output_dir=str(tmp_path / "out"))
    (example_gen,) = [c for c in create_pipeline(config, after, Mode.PRODUCTION).components
                      if c.id == "MovieLensExampleGen"]
    assert example_gen.exec_properties["data_fingerprint"] == after.fingerprint


PARALLEL_COMPONENTS = ("MovieLensExampleGen", "StatisticsGen", names.EVALUATOR_ID)
BEAM_COMPONENTS = PARALLEL_COMPONENTS + (names.TRANSFORM_ID,)


def _beam_args(config, source):
    """Each Beam component's options, by id."""
    from pipeline.pipeline import Mode, create_pipeline

    pipeline = create_pipeline(config, source, Mode.PRODUCTION)
    return {c.id: list(c.executor_spec.beam_pipeline_args) for c in pipeline.components
            if c.id in BEAM_COMPONENTS}


def test_beam_components_run_in_one_process_unless_asked_and_transform_always(tmp_path):
    """By default every Beam component runs in one in-memory process, whatever the data's size
    (the multi-process DirectRunner once lost input silently at 10M ratings); --beam-workers N
    gives ExampleGen, StatisticsGen and the Evaluator N processes (after the pipeline's own Beam
    options, so they win), never Transform."""
    from pipeline.configs import IN_MEMORY_BEAM_ARGS

    config = configs.PipelineConfig(output_dir=str(tmp_path))
    default = list(config.beam_pipeline_args)
    small = data_source.ResolvedSource(str(tmp_path), "*", ratings_bytes=2_000_000,
                                       ratings_uncompressed_bytes=2_000_000)
    large = dataclasses.replace(small, ratings_bytes=2**30, ratings_uncompressed_bytes=2**30)
    in_memory = {names.TRANSFORM_ID: default + list(IN_MEMORY_BEAM_ARGS)}
    for source in (small, large):
        assert _beam_args(config, source) == {**{c: default for c in PARALLEL_COMPONENTS},
                                              **in_memory}
    three = dataclasses.replace(config, beam_workers=3)
    for source in (small, large):
        args = _beam_args(three, source)
        assert args.pop(names.TRANSFORM_ID) == in_memory[names.TRANSFORM_ID]
        assert sorted(args) == sorted(PARALLEL_COMPONENTS)
        for component_args in args.values():
            assert component_args == default + ["--direct_running_mode=multi_processing",
                                                 "--direct_num_workers=3"]
    for workers in (0, -1):
        with pytest.raises(configs.ConfigError, match="beam_workers must be >= 1"):
            dataclasses.replace(config, beam_workers=workers)


def test_run_time_hyperparameters_override_the_config_and_are_validated():
    config = TrainingConfig(embedding_dim=16)
    tuned = config.with_overrides({"rating_weight": 0.25, "epochs": 5})
    assert (tuned.rating_weight, tuned.epochs, tuned.embedding_dim) == (0.25, 5, 16)
    with pytest.raises(ValueError, match="must be >= 1"):
        config.with_overrides({"epochs": 0})


def test_presets_and_flags():
    import argparse

    from models.hparams import PRESETS
    from runner.flags import add_training_flags, training_config_from_args

    parser = argparse.ArgumentParser()
    add_training_flags(parser)
    assert training_config_from_args(parser.parse_args([])) == TrainingConfig()  # the tutorial
    assert training_config_from_args(parser.parse_args(["--preset", "seed"])) == TrainingConfig()
    best = training_config_from_args(parser.parse_args(["--preset", "best", "--epochs", "7"]))
    assert best == PRESETS["best"].with_overrides({"epochs": 7})
    flags = parser.parse_args(["--rating-biases", "--label-fraction", "0.25",
                               "--training-config-json", '{"rating_layers": [64]}'])
    config = training_config_from_args(flags)
    assert (config.rating_biases, config.label_fraction, config.rating_layers) == \
        (True, 0.25, (64,))
    with pytest.raises(ValueError, match="label_fraction"):
        training_config_from_args(parser.parse_args(["--label-fraction", "2"]))


def test_the_run_summary_is_written_whole_or_not_at_all(tmp_path):
    """A failure midway through writing (here a value JSON cannot encode, after the keys
    before it were written) leaves the previous summary as it was and no temporary file."""
    from runner import run_summary

    path = str(tmp_path / "run_summary.json")
    run_summary.write({"blessed": True}, path)
    with pytest.raises(TypeError):
        run_summary.write({"a": 1, "b": object()}, path)
    with open(path) as f:
        assert json.load(f) == {"blessed": True}
    assert os.listdir(tmp_path) == ["run_summary.json"]


def test_the_summary_never_names_a_served_path_that_does_not_exist(tmp_path):
    """A cached Pusher reports the earlier push as `already_serving` only while that folder
    exists; deleted by hand, the summary says it is missing instead."""
    from runner.run_summary import serving_paths

    served = tmp_path / "serving" / "movielens" / "17"
    pushed = {"pushed": 1, "pushed_destination": str(served), "already_serving_version": None}
    serving_dir = str(tmp_path / "serving" / "movielens")
    assert serving_paths(pushed, False, serving_dir)["pushed_model"] == str(served)
    assert serving_paths(pushed, True, serving_dir) == {
        "pushed_model": None, "already_serving": None, "served_model_missing": str(served)}
    served.mkdir(parents=True)
    assert serving_paths(pushed, True, serving_dir)["already_serving"] == str(served)
    assert serving_paths(None, False, serving_dir) == {
        "pushed_model": None, "already_serving": None, "served_model_missing": None}
