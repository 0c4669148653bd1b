"""The whole pipeline on a tiny generated MovieLens, with LocalDagRunner, as users run it."""

import dataclasses
import json
import os

import pytest

import local_runner
import names

pytestmark = pytest.mark.pipeline

EXPECTED_COMPONENTS = {
    "MovieLensExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomaliesGate",
    "Transform", "Trainer", names.BASELINE_RESOLVER_ID, "Evaluator", "LoadCheck", "Pusher"}


@pytest.fixture
def config(pipeline_config):
    return pipeline_config


def _states(summary):
    return {c["component"]: c["state"] for c in summary["components"]}


def test_first_run_blesses_and_pushes_a_model_with_sane_metrics(config, first_run):
    summary = first_run
    assert set(_states(summary)) == EXPECTED_COMPONENTS
    assert set(_states(summary).values()) == {"executed"}
    assert all(c["wall_seconds"] >= 0 for c in summary["components"])

    metrics = summary["eval_metrics"]
    assert 0.3 < metrics["rating/root_mean_squared_error"] < 2.0
    top = [metrics[f"retrieval/top_{k}_categorical_accuracy"] for k in (1, 5, 10, 50, 100)]
    assert all(0.0 <= t <= 1.0 for t in top) and top == sorted(top)
    assert top[0] < 0.5 and top[-1] < 1.0  # 150 titles: top-100 can miss, so it can gate

    ranking = summary["user_ranking_metrics"]  # per user, rated titles removed (Trainer)
    assert ranking["ranked_users"] > 0
    assert 0.0 < ranking["recall_at_10"] <= ranking["recall_at_50"] <= 1.0
    assert ranking["recall_at_50"] <= ranking["recall_at_100"] < 1.0
    assert all(0.0 < ranking[name] <= 1.0 for name in (
        "ndcg_at_10", "ndcg_at_100", "map_at_100", "mrr_at_100", "coverage_at_10"))
    assert ranking["novelty_at_10"] > 0.0
    graded = names.graded_ndcg_metric(10)
    assert 0.0 < ranking[graded] <= 1.0 and 0.0 < ranking[names.reranked_metric(graded)] <= 1.0
    popularity = summary["popularity_ranking_metrics"]  # the same metrics, same code
    assert set(popularity) == set(ranking) - {names.reranked_metric(graded)}
    assert popularity["ranked_users"] == ranking["ranked_users"]
    assert popularity["coverage_at_10"] < ranking["coverage_at_10"]  # one list for everyone
    # Known and new users apart, each beside both popularity baselines, by the same code.
    groups = summary["ranking_by_user_group"]
    assert {"all_users", names.KNOWN_USERS} <= set(groups) <= set(names.USER_GROUPS) | {
        "all_users"}  # a group without users is left out
    assert groups["all_users"]["model"] == ranking
    parts = [groups[group] for group in names.USER_GROUPS if group in groups]
    assert sum(part["model"]["ranked_users"] for part in parts) == ranking["ranked_users"]
    folded_in = names.FOLD_IN_RATINGS * (groups.get(names.NEW_USERS) or {"model": {
        "ranked_users": 0}})["model"]["ranked_users"]
    assert sum(part["eval_ratings"] for part in parts) + folded_in == \
        summary["record_counts"]["splits"]["eval"]
    for ranker in (names.POPULARITY_RANKER, names.RECENT_POPULARITY_RANKER):
        assert set(groups[names.KNOWN_USERS][ranker]) == set(popularity)

    assert summary["blessed"] is True
    assert summary["loads_in_serving"] is True and summary["load_check_error"] is None
    pushed = summary["pushed_model"]
    assert pushed and os.path.dirname(pushed) == config.serving_dir
    assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
    written = summary["written_summary"]  # <output>/run_summary.json, as the run wrote it
    assert {key: written[key] for key in ("pipeline_run", "eval_metrics", "blessed",
                                          "pushed_model", "components")} == \
        {key: summary[key] for key in ("pipeline_run", "eval_metrics", "blessed",
                                       "pushed_model", "components")}


def test_tfma_top_k_agrees_with_keras_factorized_top_k(config, first_run):
    trainer_runs = os.path.join(config.pipeline_root, "Trainer", "model_run")
    run_dir = min(os.listdir(trainer_runs), key=int)  # the first run's (later tests train more)
    with open(os.path.join(trainer_runs, run_dir, "keras_eval_metrics.json")) as f:
        keras_metrics = json.load(f)
    tfma_metrics = first_run["eval_metrics"]
    assert abs(keras_metrics["root_mean_squared_error"]
               - tfma_metrics["rating/root_mean_squared_error"]) < 1e-3
    for k in (1, 5, 10):  # 50 and 100 cover (almost) the whole tiny catalog: ties dominate
        assert abs(keras_metrics[f"factorized_top_k/top_{k}_categorical_accuracy"]
                   - tfma_metrics[f"retrieval/top_{k}_categorical_accuracy"]) < 0.02


def test_rerun_with_nothing_changed_reuses_everything_and_pushes_nothing(config, first_run):
    versions_before = sorted(os.listdir(config.serving_dir))
    for _ in range(2):  # a prototype re-ran the Evaluator and re-pushed on the first re-run
        summary = local_runner.run(config)
        states = _states(summary)
        resolved_anew = {names.BASELINE_RESOLVER_ID}
        assert all(states[c] == "cached" for c in EXPECTED_COMPONENTS - resolved_anew), states
        assert summary["pushed_model"] is None  # the same model is already the newest version
        assert summary["already_serving"] == first_run["pushed_model"]
        assert sorted(os.listdir(config.serving_dir)) == versions_before


def test_the_blessing_names_the_pipeline_that_blessed_it(config, first_run):
    """Kubeflow's baseline query keeps the blessings of its own pipeline by this property."""
    from tfx.orchestration import metadata
    from tfx.types import standard_artifacts

    connection = metadata.sqlite_metadata_connection_config(config.metadata_path)
    with metadata.Metadata(connection) as store:
        blessings = store.store.get_artifacts_by_type(standard_artifacts.ModelBlessing.TYPE_NAME)
    assert blessings and all(
        b.custom_properties[names.BLESSING_PIPELINE_KEY].string_value == config.pipeline_name
        for b in blessings)


@pytest.mark.parametrize("threshold", [{"max_rmse": 0.01}, {"min_top_100_accuracy": 0.999},
                                       {"min_ndcg_at_10": 0.999}])
def test_a_model_failing_the_thresholds_is_not_blessed_nor_pushed(config, first_run, threshold):
    assert first_run["eval_metrics"][names.tfma_top_k(100)] < 0.999  # so the gate can refuse
    assert first_run["user_ranking_metrics"][names.ndcg_metric(10)] < 0.999
    versions_before = sorted(os.listdir(config.serving_dir))
    strict = dataclasses.replace(
        config, thresholds=dataclasses.replace(config.thresholds, **threshold))
    summary = local_runner.run(strict)
    assert _states(summary)["Trainer"] == "cached"
    assert summary["blessed"] is False
    assert bool(summary["blessing_withdrawn"]) == ("min_ndcg_at_10" in threshold)
    assert summary["pushed_model"] is None
    assert sorted(os.listdir(config.serving_dir)) == versions_before


def test_run_time_hyperparameters_and_thresholds_reach_trainer_and_evaluator(config, tmp_path):
    """With run-time parameters (as on Kubeflow), a run's value beats the compiled one."""
    import glob

    from tfx import v1 as tfx

    from movielens import source
    from pipeline.pipeline import Mode, create_pipeline

    compiled = dataclasses.replace(
        config, output_dir=str(tmp_path),
        training=dataclasses.replace(config.training, epochs=1, rating_weight=1.0),
        thresholds=dataclasses.replace(config.thresholds, max_rmse=10.0))
    sqlite = tfx.orchestration.metadata.sqlite_metadata_connection_config(compiled.metadata_path)
    resolved = source.resolve(compiled.data.source, compiled.cache_dir)
    pipeline = create_pipeline(compiled, resolved, Mode.KUBEFLOW, sqlite)
    (generator,) = [c for c in pipeline.components if c.id == "HyperparametersGen"]
    generator.exec_properties["rating_weight"] = tfx.dsl.experimental.RuntimeParameter(
        name="rating_weight", ptype=float, default=0.25)  # what a run would set
    (evaluator,) = [c for c in pipeline.components if c.id == "Evaluator"]
    assert evaluator.exec_properties["max_rmse"].default == 10.0
    evaluator.exec_properties["max_rmse"] = tfx.dsl.experimental.RuntimeParameter(
        name="max_rmse", ptype=float, default=0.01)  # a run's stricter gate
    tfx.orchestration.LocalDagRunner().run(pipeline)

    (trained,) = glob.glob(os.path.join(compiled.pipeline_root, "Trainer", "model_run", "*",
                                        "training_config.json"))
    with open(trained) as f:
        used = json.load(f)
    assert used["rating_weight"] == 0.25
    assert used["epochs"] == 1 and used["retrieval_weight"] == 1.0
    from runner import run_summary  # the run's threshold, not the compiled one, gated it
    summary = run_summary.collect(compiled.metadata_path, compiled.serving_dir)
    assert summary["blessed"] is False and summary["pushed_model"] is None
    assert summary["eval_metrics"]["rating/root_mean_squared_error"] < 10.0  # compiled: bless


def test_a_source_without_a_user_file_trains_on_the_features_it_has(config, tmp_path):
    """The CSV family (ML-20M/25M/latest) has no user file: the schema leaves the user side
    features out, and validation, Transform, the Trainer and the Evaluator run without them."""
    from tests import movielens_fixture

    data = movielens_fixture.write_csv(str(tmp_path / "ml-latest-small"), num_users=60,
                                       num_movies=40, num_ratings=1000)
    experiment = dataclasses.replace(
        config, output_dir=str(tmp_path / "out"),
        data=dataclasses.replace(config.data, source=data),
        training=dataclasses.replace(config.training, epochs=1))
    summary = local_runner.run(experiment, experiment=True)
    assert set(_states(summary).values()) == {"executed"}
    metrics = summary["eval_metrics"]
    assert 0.0 < metrics[names.TFMA_RMSE] < 5.0 and 0.0 < metrics[names.tfma_top_k(100)] <= 1.0
