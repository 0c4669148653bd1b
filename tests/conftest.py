"""Test set-up: Keras 2 for TFRS (before TensorFlow loads), the project on sys.path."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bootstrap  # noqa: E402  (the standard library only)

bootstrap.set_tf_environment()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest  # noqa: E402

PIPELINE_MARKER = "pipeline"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{PIPELINE_MARKER}: runs the whole TFX pipeline (LocalDagRunner); "
                   "`make test-fast` leaves these out")


def pytest_collection_modifyitems(items):
    """A test on the first run's outputs runs the pipeline too (the first test to ask for
    them runs it), so it is a pipeline test even if nobody marked it."""
    for item in items:
        if "first_run" in getattr(item, "fixturenames", ()):
            item.add_marker(PIPELINE_MARKER)


# More titles than the largest top-K (100), so the top-100 threshold can gate a model.
FIXTURE_MOVIES = 150
# Top-100 accuracy of a random ranking of the fixture's titles (2/3): the gate asks for more.
CHANCE_TOP_100 = min(1.0, 100 / FIXTURE_MOVIES)


@pytest.fixture(scope="session")
def pipeline_config(tmp_path_factory):
    """A pipeline over a generated MovieLens (100 users, 150 titles, 3,000 ratings)."""
    from models.hparams import TrainingConfig
    from pipeline import configs
    from tests import movielens_fixture

    root = tmp_path_factory.mktemp("pipeline")
    # Glob characters in the data path, and a decoy folder that the unescaped pattern would
    # match ("[fixture]" matches "f"): TFX takes ExampleGen's input as a glob pattern.
    data = movielens_fixture.write_ml100k(str(root / "ml-100k [fixture]"), num_users=100,
                                          num_movies=FIXTURE_MOVIES, num_ratings=3000)
    (root / "ml-100k f").mkdir()
    return configs.PipelineConfig(
        output_dir=str(root / "out"),
        data=configs.DataConfig(source=data),
        # The in-batch softmax alone pushes the fixture's popular titles down: its model's
        # top-100 accuracy is 0.53, below chance; with the logQ correction 0.84.
        training=TrainingConfig(epochs=3, train_batch_size=256, eval_batch_size=256,
                                learning_rate=0.1, serving_max_k=20, serving_max_batch=16,
                                serving_max_exclusions=4, rerank_depth=20,
                                sampling_bias_correction=True),
        thresholds=configs.EvalThresholds(max_rmse=2.0,
                                          min_top_100_accuracy=round(CHANCE_TOP_100 + 0.05, 3)),
    )


@pytest.fixture(scope="session")
def first_run(pipeline_config):
    """The summary of the first (cold) run; later tests may run the pipeline again. The
    run_summary.json and report.html it wrote are kept under `written_summary` and
    `written_report` (later runs overwrite the files)."""
    import json

    import local_runner
    from runner.report import REPORT_FILE

    summary = local_runner.run(pipeline_config)
    with open(os.path.join(pipeline_config.output_dir, local_runner.SUMMARY_FILE)) as f:
        written = json.load(f)
    with open(os.path.join(pipeline_config.output_dir, REPORT_FILE), encoding="utf-8") as f:
        report = f.read()
    return {**summary, "written_summary": written, "written_report": report}
