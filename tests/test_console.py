"""What a person sees from `python local_runner.py`: known library noise filtered, a line per
component, the summary; every error still shown, `--verbose` showing everything."""

import io
import logging
import os
import re
import subprocess
import sys

import pytest

from runner import console
from tests import movielens_fixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPONENTS = ("MovieLensExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "AnomaliesGate", "Transform", "Trainer", "LoadCheck", "Evaluator", "Pusher")


@pytest.mark.parametrize("line, noise", [
    ("2026-11-28 15:37:42.919174: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:"
     "10575] Unable to register cuDNN factory: Attempting to register factory for plugin", True),
    ("WARNING:absl:ArtifactQuery.property_predicate is not supported.", True),
    ("WARNING:absl:Tables initialized inside a tf.function  will be re-initialized", True),
    ("WARNING:absl:Fail to find metrics for model name: baseline . Available model names are "
     "[]", True),
    ("WARNING:absl:Fail to find metrics for model name: candidate . Available model names are "
     "[]", False),
    ("WARNING:root:307 rating(s) of data superseded: the same user rated the same title", False),
    ("ERROR:absl:Execution 1 failed.", False),
    ("error: 1 malformed line(s) in data:", False),
    ("Traceback (most recent call last):", False),
    ("WARNING:absl:Anomalies found in the eval split: user_rating", False),
    ("WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: WARN "
     "timestamp {   seconds: 1795890903   nanos: 480296134 } message: \"Discarding "
     "unparseable args: [\\'--direct_runner_use_stacked_bundle\\', \\'--pipeline_type_check"
     "\\']\" log_location: \"pipeline_options.py:386\" thread: \"MainThread\"", True),
    ("WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: WARN "
     "timestamp {   seconds: 1795890903 } message: \"No semi_persistent_directory found: "
     "Functions defined in __main__ (interactive session) may fail.\"", True),
    ("WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: WARN "
     "timestamp {   seconds: 1796169900 } message: \"Couldn\\'t find python-snappy so the "
     "implementation of _TFRecordUtil._masked_crc32c is not as fast as it could be.\"", True),
    ("WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: ERROR "
     "message: \"Error processing instruction bundle_3\"", False),
])
def test_only_known_noise_is_noise(line, noise):
    assert console.is_noise(line) is noise


class _Terminal(io.StringIO):
    """What the console writes to, as a terminal would take it (status lines in place)."""

    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _screen(text):
    """The lines a terminal shows after `text`: `\r` goes back to the line's start, `ESC[K`
    erases to its end, other characters overwrite."""
    lines, line, column, i = [], [], 0, 0
    while i < len(text):
        if text.startswith("\x1b[K", i):
            del line[column:]
            i += 3
            continue
        char = text[i]
        if char == "\n":
            lines.append("".join(line))
            line, column = [], 0
        elif char == "\r":
            column = 0
        else:
            line[column:column + 1] = [char]
            column += 1
        i += 1
    return lines + (["".join(line)] if line else [])


def _record(component, state):
    """LocalDagRunner's record: `Component <id> is running.` or `... is finished.`"""
    return logging.makeLogRecord({"name": "absl", "levelno": logging.INFO, "levelname": "INFO",
                                  "msg": "Component %s is %s.", "args": (component, state)})


def _never_ticks(stream, clock):
    """Component lines whose ticker thread never fires: the test calls tick() itself."""
    return console.ComponentLines(stream, clock=clock, tick_seconds=3600)


def test_each_end_line_carries_the_component_s_figure_and_a_failing_lookup_costs_only_it():
    stream, clock = io.StringIO(), _Clock()
    lines = _never_ticks(stream, clock)

    def figure(component):
        if component == "Evaluator":
            raise OSError("evaluation unreadable")
        return {"StatisticsGen": "train 2,400, eval 600 examples"}.get(component)

    def run(components, cached=()):
        with lines.pipeline(figure):
            for component, seconds in components:
                lines.handle(_record(component, "running"))
                if component in cached:  # the launcher's record when it reuses a result
                    lines.handle(logging.makeLogRecord({
                        "name": "absl", "levelno": logging.INFO,
                        "msg": "A cached execution 7 is used."}))
                clock.now += seconds
                lines.handle(_record(component, "finished"))

    run([("StatisticsGen", 4.0), ("SchemaGen", 0.5), ("Evaluator", 30.0)], cached={"SchemaGen"})
    run([("SchemaGen", 1.5)])  # a second run in the same process (--compare)
    assert stream.getvalue().splitlines() == [
        f"  {'StatisticsGen':<32} executed    4.0 s  train 2,400, eval 600 examples",
        f"  {'SchemaGen':<32} cached      0.5 s",
        f"  {'Evaluator':<32} executed   30.0 s",
        f"  {'SchemaGen':<32} executed    1.5 s"]


def test_on_a_terminal_the_running_component_is_a_status_line_that_other_output_moves_below(
        monkeypatch):
    terminal, clock = _Terminal(), _Clock()
    monkeypatch.setattr(sys, "stdout", terminal)  # Keras prints to sys.stdout
    lines = _never_ticks(terminal, clock)
    with lines.pipeline(lambda component: "3 epochs"):
        lines.handle(_record("Trainer", "running"))
        clock.now += 2
        lines.tick()
        assert _screen(terminal.getvalue()) == [f"  {'Trainer':<32} running       2 s"]
        print("Epoch 1/3")
        lines.tick()
        sys.stdout.write("4/4 - 1s - loss: 3.21")  # half a line: not drawn over
        lines.tick()
        print(" - root_mean_squared_error: 1.02")
        clock.now += 40
        lines.tick()
        assert _screen(terminal.getvalue())[-1] == f"  {'Trainer':<32} running      42 s"
        lines.handle(_record("Trainer", "finished"))
    assert _screen(terminal.getvalue()) == [
        "Epoch 1/3", "4/4 - 1s - loss: 3.21 - root_mean_squared_error: 1.02",
        f"  {'Trainer':<32} executed   42.0 s  3 epochs"]
    assert sys.stdout is terminal


def test_off_a_terminal_only_a_long_stage_says_it_is_still_running_ever_less_often():
    stream, clock = io.StringIO(), _Clock()
    lines = _never_ticks(stream, clock)
    with lines.pipeline(lambda component: None):
        lines.handle(_record("Transform", "running"))
        for _ in range(300):  # a tick a second for five minutes
            clock.now += 1
            lines.tick()
        lines.handle(_record("Transform", "finished"))
    assert stream.getvalue().splitlines() == [
        f"  {'Transform':<32} still running, 60 s",
        f"  {'Transform':<32} still running, 120 s",
        f"  {'Transform':<32} still running, 240 s",
        f"  {'Transform':<32} executed  300.0 s"]


def test_a_component_stopped_by_an_error_gets_a_failed_line_and_no_status_is_left():
    terminal, clock = _Terminal(), _Clock()
    lines = _never_ticks(terminal, clock)
    with pytest.raises(RuntimeError):
        with lines.pipeline(lambda component: "not asked"):
            lines.handle(_record("MovieLensExampleGen", "running"))
            clock.now += 5
            lines.tick()
            raise RuntimeError("1 malformed line(s)")
    assert _screen(terminal.getvalue()) == [f"  {'MovieLensExampleGen':<32} failed      5.0 s"]
    lines.tick()  # the run is over: nothing is drawn any more
    assert _screen(terminal.getvalue()) == [f"  {'MovieLensExampleGen':<32} failed      5.0 s"]


def test_figures_say_what_each_component_produced(tmp_path):
    import json

    from tensorflow_metadata.proto.v0 import anomalies_pb2

    import names
    from runner import figures

    examples = tmp_path / "examples"
    for split, size in (("train", 2_500_000), ("eval", 640)):
        (examples / f"Split-{split}").mkdir(parents=True)
        (examples / f"Split-{split}" / "data.gz").write_bytes(b"x" * size)
    anomalies = tmp_path / "anomalies"
    for split, features in (("train", []), ("eval", ["user_rating", "movie_genres"])):
        proto = anomalies_pb2.Anomalies()
        for feature in features:
            proto.anomaly_info[feature].description = "out of range"
        (anomalies / f"Split-{split}").mkdir(parents=True)
        (anomalies / f"Split-{split}" / "SchemaDiff.pb").write_bytes(proto.SerializeToString())
    model_run = tmp_path / "model_run"
    model_run.mkdir()
    (model_run / names.TRAINING_LOG_FILE).write_text(json.dumps({  # early stopping kept 2
        "epochs_trained": 4, "best_epoch": 2,
        "history": {"loss": [9e3, 7250.04, 7.5e3, 8e3], names.RMSE_METRIC: [1.3, 1.05, 1.1, 1.2]}}))
    summary = {
        "artifacts": {
            "MovieLensExampleGen": {"examples": str(examples)},
            "ExampleValidator": {"anomalies": str(anomalies)},
            "Trainer": {"model_run": str(model_run), "model": "elsewhere"},
            "Evaluator": {"evaluation": "e", "blessing": "b"}, "LoadCheck": {"blessing": "l"},
            "Pusher": {"pushed_model": "p"}, "SchemaGen": {"schema": "s"}},
        "eval_metrics": {names.TFMA_RMSE: 0.95123, names.tfma_top_k(100): 0.6, "other": 1.0},
        "blessed": False, "loads_in_serving": True,
        "pushed_model": None, "already_serving": "/out/serving/movielens/1764633600000000"}
    said = {component: figures.describe(component, summary) for component in summary["artifacts"]}
    assert said == {
        "MovieLensExampleGen": "eval 640 B, train 2.5 MB (gzipped)",
        "ExampleValidator": "2 anomalies: eval movie_genres, eval user_rating",
        "Trainer": "4 epochs, epoch 2 kept, loss 7,250.0, RMSE 1.0500",
        "Evaluator": "RMSE 0.9512, top-100 0.6000; not blessed",
        "LoadCheck": "loads as TF Serving would",
        "Pusher": "already serving version 1764633600000000",
        "SchemaGen": None}
    pushed = {**summary, "pushed_model": "/out/serving/movielens/1764633700000000"}
    assert figures.describe("Pusher", pushed) == "pushed version 1764633700000000"
    gone = {**summary, "already_serving": None, "served_model_missing": "/out/serving/m/17"}
    assert figures.describe("Pusher", gone) == "not pushed; version 17, pushed earlier, is gone"


def _run(args, cwd):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONWARNINGS", None)  # as a person runs it, FutureWarnings not hidden by make
    return subprocess.run([sys.executable, os.path.join(ROOT, "local_runner.py"), *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def _component_lines(stdout):
    """{component: (executed|cached, its figure or None)} from the console's live component
    lines (one per component), not the summary's table after them."""
    live = stdout.split("\nPipeline run ", 1)[0]
    lines = [re.fullmatch(r"  (\S+) +(executed|cached) +[\d.]+ s(?:  (.+))?", line)
             for line in live.splitlines()]
    lines = [line.groups() for line in lines if line]
    assert len(lines) == len({component for component, _, _ in lines})
    return {component: (state, figure) for component, state, figure in lines}


# What each component's line says of it in the fixture run (40 users, 1,200 ratings, 1 epoch).
FIGURES = {
    "MovieLensExampleGen": r"1,200 ratings parsed; dropped: 0 superseded, 0 malformed "
                           r"line\(s\); written: eval \d{3}, train \d{3}; 40 users, \d{2,3} titles",
    "StatisticsGen": r"eval \d{3}, train \d{3} examples",
    "ExampleValidator": r"no anomalies",
    "Transform": r"vocabularies: 40 users, \d{2,3} titles",
    "Trainer": r"1 epoch, loss [\d,.]+, RMSE \d\.\d{4}",
    "LoadCheck": r"loads as TF Serving would",
    "Evaluator": r"RMSE (\d\.\d{4}), top-100 \d\.\d{4}; blessed",
    "Pusher": r"pushed version \d+",
}


def _check_figures(stdout, done, pusher):
    """Each component's line has its figure, and the Evaluator's RMSE is the summary's."""
    figures = {component: figure for component, (_, figure) in done.items()}
    for component, pattern in {**FIGURES, "Pusher": pusher}.items():
        assert re.fullmatch(pattern, figures[component] or ""), (component, figures[component])
    rmse = re.fullmatch(FIGURES["Evaluator"], figures["Evaluator"]).group(1)
    assert f"eval rating/root_mean_squared_error: {rmse}" in stdout
    assert figures["SchemaGen"] is None and figures["AnomaliesGate"] is None


@pytest.mark.pipeline
def test_a_run_prints_a_line_per_component_and_the_summary_and_no_noise(tmp_path):
    data = movielens_fixture.write_ml100k(str(tmp_path / "data"), num_users=40,
                                          num_movies=120, num_ratings=1200)
    args = ["--data", data, "--output-dir", str(tmp_path / "out"), "--epochs", "1",
            "--train-batch-size", "256", "--max-rmse", "5", "--min-top-100", "0.01"]
    cold = _run(args, tmp_path)
    assert cold.returncode == 0, cold.stderr[-3000:]
    done = _component_lines(cold.stdout)
    assert set(COMPONENTS) <= set(done) and {state for state, _ in done.values()} == {"executed"}
    _check_figures(cold.stdout, done, pusher=r"pushed version \d+")
    assert "Summary written to" in cold.stdout
    summary = cold.stdout.split("\nPipeline run ", 1)[1]
    assert not re.search(r"^  MovieLensExampleGen +executed", summary, re.M)  # said once
    noise = [line for line in cold.stderr.splitlines() if console.is_noise(line)]
    assert not noise and len(cold.stderr.splitlines()) <= 5, cold.stderr[-3000:]
    # Again, nothing changed: every component says it was cached (the baseline resolver
    # resolves anew each run: it has no executor to cache), with the same figures.
    cached = _run(args, tmp_path)
    assert cached.returncode == 0
    states = _component_lines(cached.stdout)
    assert set(COMPONENTS) <= set(states)
    assert {state for node, (state, _) in states.items() if node in COMPONENTS} == {"cached"}
    _check_figures(cached.stdout, states, pusher=r"already serving version \d+")
    # The same messages are there with --verbose: the quiet console is what hides them.
    verbose = _run(args + ["--verbose"], tmp_path)
    assert verbose.returncode == 0
    assert any(console.is_noise(line) for line in verbose.stderr.splitlines())
    # Without the live lines, the summary lists the components.
    assert re.search(r"^  MovieLensExampleGen +cached", verbose.stdout, re.M)

    # A data error: one `error:` block, no traceback (Beam's logged one is dropped too).
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in os.listdir(data):
        content = (tmp_path / "data" / name).read_bytes()
        (bad / name).write_bytes(content + (b"1\t2\t9\t881250949\n" if name == "u.data" else b""))
    failed = _run(["--data", str(bad), "--output-dir", str(tmp_path / "bad-out")], tmp_path)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.count("error: ") == 1 and "rating '9' is outside 1-5" in failed.stderr
    assert re.search(r"^  MovieLensExampleGen +failed +[\d.]+ s$", failed.stdout, re.M)


def test_a_traceback_ignored_at_a_worker_s_exit_is_noise_and_the_next_line_is_kept():
    """Beam's worker processes print one per leftover TF function as they exit (16 at 10M):
    header to exception line are dropped; any other traceback, and what follows, is kept."""
    lines = [
        "Exception ignored in: <function AtomicFunction.__del__ at 0x7f01687876d0>",
        "Traceback (most recent call last):",
        '  File "/venv/lib/python3.10/site-packages/tensorflow/python/eager/polymorphic_function'
        '/atomic_function.py", line 291, in __del__',
        "TypeError: 'NoneType' object is not subscriptable",
        "  Transform                        executed  136.2 s",
        "Traceback (most recent call last):",
        '  File "local_runner.py", line 1, in <module>',
        "ValueError: a real error",
    ]
    noise = console.NoiseLines()
    assert [line for line in lines if noise.keep(line)] == lines[4:]


def test_the_trainer_line_shows_the_refit_models_own_figures(tmp_path):
    """With refit, the exported model is the refit one: its last epoch's loss and RMSE, not
    the selection run's at the chosen epoch."""
    import json

    import names
    from runner import figures

    history = {"loss": [9.0, 8.0, 7.0], names.RMSE_METRIC: [1.3, 1.2, 1.1],
               "refit_loss": [5.0, 4.5], f"refit_{names.RMSE_METRIC}": [0.95, 0.91]}
    log = {"epochs_trained": 3, "best_epoch": 2, "refitted": True, "history": history}
    (tmp_path / names.TRAINING_LOG_FILE).write_text(json.dumps(log))
    line = figures._training(str(tmp_path), {}, {})
    assert line == "3 epochs, epoch 2 refit on all of train, loss 4.5000, RMSE 0.9100"
    log["refitted"] = False
    (tmp_path / names.TRAINING_LOG_FILE).write_text(json.dumps(log))
    assert (figures._training(str(tmp_path), {}, {})
            == "3 epochs, epoch 2 kept, loss 8.0000, RMSE 1.2000")
