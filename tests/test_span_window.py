"""Continuous training on a drops folder of spans: which span ExampleGen reads, which spans
Transform and the Trainer read (components/span_window.py), and the errors a drops folder or
a span request can give."""

import dataclasses
import os

import pytest
from tfx.types import standard_artifacts

import local_runner
import names
from components.span_window import newest_span_files, refused_spans, span_window
from movielens import source as data_source
from pipeline import configs
from tests import movielens_fixture

DROPS = "/data/drops"


def _examples(artifact_id, span, version=None, input_base=DROPS):
    examples = standard_artifacts.Examples()
    examples.id = artifact_id
    examples.uri = f"/out/MovieLensExampleGen/examples/{artifact_id}"
    examples.split_names = '["train", "eval"]'
    examples.set_int_custom_property("span", span)
    if version is not None:
        examples.set_int_custom_property("version", version)
    examples.set_string_custom_property(names.EXAMPLES_INPUT_BASE_KEY, input_base)
    return examples


def _ids(artifacts):
    return [a.id for a in artifacts]


def test_the_window_keeps_the_latest_artifact_of_each_of_the_last_spans_in_span_order():
    # ExampleGen read span 2 three times and span 1 twice (after code changes, say).
    every = [_examples(5, 2), _examples(1, 1), _examples(2, 2), _examples(4, 1), _examples(6, 3),
             _examples(7, 2)]
    current = every[4]
    assert _ids(span_window(current, every, 2)) == [7, 6]
    assert _ids(span_window(current, every, 3)) == [4, 7, 6]
    assert _ids(span_window(current, every, 0)) == [4, 7, 6]  # 0: every span
    # A higher version wins over a newer id.
    versioned = [_examples(1, 1, version=2), _examples(2, 1, version=1), current]
    assert _ids(span_window(current, versioned, 2)) == [1, 6]


def test_a_window_larger_than_the_spans_available_holds_every_span():
    every = [_examples(1, 1), _examples(2, 2)]
    assert _ids(span_window(every[1], every, 5)) == [1, 2]
    assert _ids(span_window(every[0], every, 5)) == [1]


def test_the_window_ends_at_the_run_s_span_and_keeps_to_its_source():
    """A run that ingests span 2 after span 3 trains on spans up to 2; the run's own artifact
    stands for its span even when a later one of that span exists (it was cached); spans of
    another drops folder read into the same pipeline are left out."""
    every = [_examples(1, 1), _examples(2, 2), _examples(3, 3), _examples(4, 2),
             _examples(5, 1, input_base="/data/other-drops")]
    assert _ids(span_window(every[1], every, 0)) == [1, 2]
    with pytest.raises(ValueError, match="window must be >= 0"):
        span_window(every[1], every, -1)


def _statistics(span):
    statistics = standard_artifacts.ExampleStatistics()
    statistics.span = span
    return statistics


def _check(span, passed):
    check = standard_artifacts.ExampleAnomalies()
    check.span = span
    if passed:
        check.set_int_custom_property(names.DRIFT_PASSED_KEY, 1)
    return check


def test_a_span_refused_by_a_gate_stays_out_of_later_windows_until_a_run_on_it_passes():
    # Spans 1-3 have statistics; 1 and 3 passed the gates, 2 did not (its run stopped); span
    # 4 is this run's, not checked yet; span 5 was ingested without statistics (not refused).
    statistics = [_statistics(n) for n in (1, 2, 2, 3, 4)]
    refused = refused_spans(statistics, [_check(1, True), _check(3, True), _check(2, False)])
    assert refused == {2, 4}
    every = [_examples(n, n) for n in (1, 2, 3, 5)]
    current = _examples(6, 4)
    assert _ids(span_window(current, every + [current], 3, refused)) == [1, 3, 6]
    assert _ids(span_window(every[1], every, 2, refused)) == [1, 2]  # a run on span 2 itself
    assert refused_spans(statistics, [_check(n, True) for n in (1, 2, 3)]) == {4}


def test_the_trainer_evaluates_on_the_newest_span_s_eval_split_alone():
    every = [_examples(1, 1), _examples(4, 3), _examples(3, 3), _examples(2, 2)]
    assert newest_span_files(every, ["eval"]) == [
        "/out/MovieLensExampleGen/examples/4/Split-eval/*"]


def _resolve(path, **kwargs):
    return data_source.resolve(str(path), str(path) + "-cache", **kwargs)


def test_a_drops_folder_resolves_to_its_newest_or_named_span(tmp_path):
    spans = movielens_fixture.write_drops(str(tmp_path / "drops"))
    (tmp_path / "drops" / ".DS_Store").write_text("")  # hidden entries are ignored
    newest = _resolve(tmp_path / "drops", window=3)
    sizes = {n: os.path.getsize(os.path.join(p, "u.data")) for n, p in spans.items()}
    assert newest == data_source.ResolvedSource(
        str(tmp_path / "drops"), "span-{SPAN}", ratings_bytes=sizes[3],
        ratings_uncompressed_bytes=sizes[3], fingerprint=data_source.local_fingerprint(spans[3]),
        span=3)
    first = _resolve(tmp_path / "drops", span=1)
    assert (first.span, first.fingerprint, first.ratings_uncompressed_bytes) == (
        1, data_source.local_fingerprint(spans[1]), sizes[1])

    zipped = movielens_fixture.write_drops(str(tmp_path / "zips"), num_spans=2, zipped=True)
    resolved = _resolve(tmp_path / "zips")
    assert (resolved.file_pattern, resolved.span, resolved.ratings_bytes) == (
        "span-{SPAN}.zip", 2, 0)  # a zip's ratings: one reader
    assert resolved.fingerprint == data_source.local_fingerprint(zipped[2])
    assert resolved.ratings_uncompressed_bytes == sizes[2]  # the same generated data


def test_tfx_s_driver_reads_the_span_the_pipeline_names(tmp_path):
    """ExampleGen's span pattern, through TFX's FileBasedDriver (as a run resolves it), names
    one span archive of a glob-escaped drops path; the executor reads that archive."""
    import glob

    from tfx.components.example_gen import driver
    from tfx.proto import example_gen_pb2
    from tfx.utils import proto_utils

    from components.movielens_example_gen import executor
    from components.movielens_example_gen.component import MovieLensExampleGen

    drops = str(tmp_path / "drops [1]")
    spans = movielens_fixture.write_drops(drops, zipped=True)
    movielens_fixture.write_drops(str(tmp_path / "drops 1"), num_spans=4)  # the decoy
    for span in (2, 3):
        component = MovieLensExampleGen(input_base=glob.escape(drops),
                                        file_pattern="span-{SPAN}.zip", span=span)
        properties = {key: proto_utils.proto_to_json(value) if hasattr(value, "DESCRIPTOR")
                      else value for key, value in component.exec_properties.items()}
        resolved = driver.FileBasedDriver(None).resolve_exec_properties(properties, None, None)
        pattern = proto_utils.json_to_proto(resolved["input_config"], example_gen_pb2.Input())
        assert resolved["span"] == span and resolved["version"] is None
        assert executor.input_path(resolved["input_base"], pattern.splits[0].pattern) == \
            spans[span]
    with pytest.raises(ValueError, match="needs a file_pattern with {SPAN}"):
        MovieLensExampleGen(input_base=drops, span=1)


def test_drops_folder_errors_name_the_entry_and_what_is_wrong(tmp_path):
    drops = tmp_path / "drops"
    movielens_fixture.write_drops(str(drops), num_spans=2)
    with pytest.raises(data_source.DataSourceError, match=r"has no span 7 \(it has spans \[1, 2\]"):
        _resolve(drops, span=7)

    (drops / "notes.txt").write_text("")
    with pytest.raises(data_source.DataSourceError, match="'notes.txt': every entry must be"):
        _resolve(drops)
    os.remove(drops / "notes.txt")
    os.rename(drops / "span-2", drops / "span-02")
    with pytest.raises(data_source.DataSourceError, match="'span-02'.*without leading zeros"):
        _resolve(drops)
    os.rename(drops / "span-02", drops / "span-2")

    movielens_fixture.zip_folder(str(drops / "span-1"), str(drops / "span-3.zip"))
    with pytest.raises(data_source.DataSourceError,
                       match=r"mixes span folders \(span-1, span-2\) and span zips \(span-3.zip\)"):
        _resolve(drops)
    os.remove(drops / "span-3.zip")

    (drops / "span-3").mkdir()
    (drops / "span-3" / "readme.txt").write_text("")
    with pytest.raises(data_source.DataSourceError,
                       match="span 3 of drops folder .* \\(span-3\\) is not a GroupLens dataset: "
                             ".*no known ratings file"):
        _resolve(drops, span=1)  # every span is checked, not only the one read
    os.remove(drops / "span-3" / "readme.txt")
    movielens_fixture.write_csv(str(drops / "span-3"), num_ratings=20)
    with pytest.raises(data_source.DataSourceError,
                       match=r"spans \[1, 2\] have a user file and spans \[3\] do not"):
        _resolve(drops)


def test_a_span_or_a_window_needs_a_drops_folder(tmp_path):
    folder = movielens_fixture.write_ml100k(str(tmp_path / "ml-100k"), num_ratings=20)
    with pytest.raises(data_source.DataSourceError,
                       match="a window of 2 spans: only a drops folder has spans"):
        _resolve(folder, window=2)
    with pytest.raises(data_source.DataSourceError, match="span 1: only a drops folder"):
        data_source.resolve("tfds:movielens/100k-ratings", str(tmp_path), span=1)
    with pytest.raises(data_source.DataSourceError, match="only a drops folder"):
        data_source.resolve("gs://bucket/ml-100k.zip", str(tmp_path), window=3)
    assert _resolve(folder).span is None  # a single dataset reads as before


def test_span_flags_make_a_validated_data_config(tmp_path):
    args = local_runner.parse_args(["--data", "drops", "--window", "3", "--span", "2",
                                    "--output-dir", str(tmp_path)])
    data = local_runner.config_from_args(args).data
    assert (data.source, data.window, data.span) == ("drops", 3, 2)
    assert local_runner.config_from_args(local_runner.parse_args([])).data.window == 1
    with pytest.raises(configs.ConfigError, match="window must be >= 1"):
        configs.DataConfig(window=0)
    with pytest.raises(configs.ConfigError, match="span must be >= 0"):
        configs.DataConfig(span=-1)


def test_spans_are_refused_on_kubeflow_and_a_window_without_spans_is_refused(tmp_path):
    from pipeline.pipeline import Mode, create_pipeline

    movielens_fixture.write_drops(str(tmp_path / "drops"), num_spans=1)
    spans = _resolve(tmp_path / "drops")
    config = configs.PipelineConfig(output_dir=str(tmp_path / "out"),
                                    data=configs.DataConfig(source=str(tmp_path / "drops")))
    with pytest.raises(configs.ConfigError, match="locally only.*Kubeflow Pipelines v2"):
        create_pipeline(config, spans, Mode.KUBEFLOW)
    single = data_source.ResolvedSource(str(tmp_path), "*")
    windowed = dataclasses.replace(config, data=dataclasses.replace(config.data, window=2))
    with pytest.raises(configs.ConfigError, match="need a drops folder"):
        create_pipeline(windowed, single, Mode.PRODUCTION)


# --- The pipeline, span by span -----------------------------------------------------------


def _node_inputs(metadata_path):
    """{node id: [Examples artifacts it read]} of the latest run, from MLMD."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata

    from runner.run_summary import latest_run_executions

    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(metadata_path))
    _, executions = latest_run_executions(store)
    node_type = store.get_context_type("node").id
    examples_type = store.get_artifact_type(standard_artifacts.Examples.TYPE_NAME).id
    result = {}
    for execution in executions:
        (node,) = [c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id)
                   if c.type_id == node_type]
        ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution.id])
               if e.type == metadata_store_pb2.Event.INPUT]
        result[node] = [a for a in store.get_artifacts_by_id(ids) if a.type_id == examples_type]
    return result, store


def _span(artifact):
    return artifact.custom_properties["span"].int_value


def _count(artifact, split):
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(artifact.uri, f"Split-{split}", "*"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _ingest_only(config, span):
    """A run of ExampleGen alone on `span` (TFX's partial run): MLMD then holds the span's
    Examples as a full run would leave them, at a fraction of a full run's cost."""
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.pipeline import Mode, create_pipeline
    from runner import direct_beam

    config = dataclasses.replace(config, data=dataclasses.replace(config.data, span=span))
    source = data_source.resolve(config.data.source, config.cache_dir, span=span,
                                 window=config.data.window)
    direct_beam.skip_tfx_packaging_on_direct_runner()
    LocalDagRunner().run(
        create_pipeline(config, source, Mode.EXPERIMENT,
                        metadata.sqlite_metadata_connection_config(config.metadata_path)),
        run_options=tfx_pipeline.RunOptions(to_nodes=[names.EXAMPLE_GEN_ID]))


@pytest.mark.pipeline
def test_the_trainer_reads_the_window_transform_every_span_the_evaluator_the_newest(
        pipeline_config, tmp_path):
    """Spans 1 and 2 ingested, then a run on the newest (3) with a window of 2 and the time
    split: each Examples artifact carries its span; the run trains on spans 2 and 3 (all
    their train examples), builds vocabularies from spans 1-3 (a title only span 1 has is in
    the catalog), and evaluates (Trainer and Evaluator) on span 3's eval split alone."""
    import json

    import tensorflow_transform as tft

    from runner import run_summary

    movielens_fixture.write_drops(str(tmp_path / "drops [x]"))  # glob characters, too
    config = dataclasses.replace(
        pipeline_config, output_dir=str(tmp_path / "out"),
        data=configs.DataConfig(source=str(tmp_path / "drops [x]"), split="time", window=2),
        training=dataclasses.replace(pipeline_config.training, epochs=1))
    for span in (1, 2):
        _ingest_only(config, span)
    summary = local_runner.run(config, experiment=True)  # the newest span
    assert summary["spans"] == {"ingested": 3, "vocabularies": [1, 2, 3], "trained": [2, 3]}
    assert "span 3 ingested; trained on spans [2, 3]" in local_runner.format_summary(summary)

    inputs, store = _node_inputs(config.metadata_path)
    ingested = store.get_artifacts_by_type(standard_artifacts.Examples.TYPE_NAME)
    assert sorted(_span(a) for a in ingested) == [1, 2, 3]  # the span, on each artifact
    # ... also as the declared property, which StatisticsGen copies onto its statistics
    (statistics,) = store.get_artifacts_by_type(standard_artifacts.ExampleStatistics.TYPE_NAME)
    assert statistics.properties["span"].int_value == 3
    (newest,) = inputs[names.EVALUATOR_ID]
    assert _span(newest) == 3
    assert sorted(_span(a) for a in inputs[names.TRAINER_ID]) == [2, 3]
    assert sorted(_span(a) for a in inputs["Transform"]) == [1, 2, 3]

    artifacts = run_summary.collect(config.metadata_path, config.serving_dir)["artifacts"]
    graph = tft.TFTransformOutput(artifacts["Transform"]["transform_graph"])
    titles = {t.decode() for t in graph.vocabulary_by_name(names.MOVIE_VOCABULARY)}
    assert movielens_fixture.SPAN_1_ONLY_TITLE in titles

    model_run = artifacts[names.TRAINER_ID]["model_run"]
    with open(os.path.join(model_run, names.TRAINING_LOG_FILE)) as f:
        log = json.load(f)
    assert log["fit_examples"] + log["validation_examples"] == sum(
        _count(a, "train") for a in inputs[names.TRAINER_ID])  # every file of every span
    with open(os.path.join(model_run, names.KERAS_METRICS_FILE)) as f:
        assert json.load(f)["keras_eval_examples"] == _count(newest, "eval")
