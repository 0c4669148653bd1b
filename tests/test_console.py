"""What a person sees from `python local_runner.py`: known library noise filtered, a line per
component, the summary; every error still shown, `--verbose` showing everything."""

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
    ("WARNING:root:307 rating(s) in data dropped: the same user rated the same title", False),
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
    ("WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: ERROR "
     "message: \"Error processing instruction bundle_3\"", False),
])
def test_only_known_noise_is_noise(line, noise):
    assert console.is_noise(line) is noise


def _run(args, cwd):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONWARNINGS", None)  # as a person runs it, FutureWarnings not hidden by make
    return subprocess.run([sys.executable, os.path.join(ROOT, "local_runner.py"), *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def _component_lines(stdout):
    """{component: executed|cached} from the console's live component lines (one per
    component), not the summary's table after them."""
    live = stdout.split("\nPipeline run ", 1)[0]
    lines = [line.split() for line in live.splitlines()
             if re.fullmatch(r"  \S+ +(executed|cached) +[\d.]+ s", line)]
    assert len(lines) == len({words[0] for words in lines})
    return {words[0]: words[1] for words in lines}


def test_a_run_prints_a_line_per_component_and_the_summary_and_no_noise(tmp_path):
    data = movielens_fixture.write_ml100k(str(tmp_path / "data"), num_users=40,
                                          num_movies=120, num_ratings=1200)
    args = ["--data", data, "--output-dir", str(tmp_path / "out"), "--epochs", "1",
            "--train-batch-size", "256", "--max-rmse", "5", "--min-top-100", "0.01"]
    cold = _run(args, tmp_path)
    assert cold.returncode == 0, cold.stderr[-3000:]
    done = _component_lines(cold.stdout)
    assert set(COMPONENTS) <= set(done) and set(done.values()) == {"executed"}
    assert "Summary written to" in cold.stdout
    noise = [line for line in cold.stderr.splitlines() if console.is_noise(line)]
    assert not noise and len(cold.stderr.splitlines()) <= 5, cold.stderr[-3000:]
    # Again, nothing changed: every component says it was cached (the baseline resolver
    # resolves anew each run: it has no executor to cache).
    cached = _run(args, tmp_path)
    assert cached.returncode == 0
    states = _component_lines(cached.stdout)
    assert set(COMPONENTS) <= set(states)
    assert {state for node, state in states.items() if node in COMPONENTS} == {"cached"}
    # The same messages are there with --verbose: the quiet console is what hides them.
    verbose = _run(args + ["--verbose"], tmp_path)
    assert verbose.returncode == 0
    assert any(console.is_noise(line) for line in verbose.stderr.splitlines())

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
