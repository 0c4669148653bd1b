"""The guarantees of docs/reliability.md: a worse model never ships, a killed run resumes,
concurrent runs cannot corrupt MLMD, and nothing unsafe is loaded or leaked."""

import ast
import dataclasses
import glob
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

import pytest

import local_runner
from components.atomic_pusher import directory_digest
from names import PROJECT_ROOT
from pipeline import configs

UPSTREAM_OF_TRAINER = ("MovieLensExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                       "AnomaliesGate", "Transform")


def _states(summary):
    return {c["component"]: c["state"] for c in summary["components"]}


@pytest.mark.pipeline
def test_a_degraded_model_is_not_blessed_and_serving_is_byte_for_byte_unchanged(
        pipeline_config, first_run):
    """The first run blessed a good model; a badly trained one passes the value thresholds
    (made loose here) but fails the change threshold against it."""
    assert first_run["blessed"] is True
    serving_before = directory_digest(pipeline_config.serving_dir)
    degraded = dataclasses.replace(
        pipeline_config,
        training=dataclasses.replace(pipeline_config.training, learning_rate=1e-4, epochs=1),
        thresholds=dataclasses.replace(pipeline_config.thresholds, max_rmse=10.0))
    summary = local_runner.run(degraded)
    assert _states(summary)["Trainer"] == "executed"
    assert summary["eval_metrics"]["rating/root_mean_squared_error"] > \
        first_run["eval_metrics"]["rating/root_mean_squared_error"] + \
        pipeline_config.thresholds.max_rmse_increase
    assert summary["blessed"] is False and summary["pushed_model"] is None
    assert directory_digest(pipeline_config.serving_dir) == serving_before


def _cli_args(config: configs.PipelineConfig, epochs: int):
    return ["--data", config.data.source, "--output-dir", config.output_dir,
            "--epochs", str(epochs), "--max-rmse", "2.0", "--min-top-100", "0.5"]


def test_the_mlmd_check_fails_on_a_missing_or_empty_database(tmp_path):
    with pytest.raises(sqlite3.OperationalError):
        _assert_mlmd_intact(str(tmp_path / "missing.sqlite"))
    assert not (tmp_path / "missing.sqlite").exists()


@pytest.mark.pipeline
def test_killed_during_the_trainer_then_resumed_and_a_concurrent_run_refused(
        pipeline_config, tmp_path):
    config = dataclasses.replace(pipeline_config, output_dir=str(tmp_path / "out"))
    run = subprocess.Popen(
        [sys.executable, "local_runner.py", *_cli_args(config, epochs=500)], cwd=PROJECT_ROOT,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = os.path.join(config.pipeline_root, "Trainer", "model_run", "*",
                           "training_config.json")
    try:
        deadline = time.time() + 600
        while not glob.glob(pattern):  # run_fn writes this first thing
            assert run.poll() is None, "the run ended before its Trainer started"
            assert time.time() < deadline, "the Trainer never started"
            time.sleep(0.2)

        # A second run on the same pipeline root, now: refused, naming the holder.
        refused = subprocess.run(
            [sys.executable, "local_runner.py", *_cli_args(config, epochs=1)], cwd=PROJECT_ROOT,
            capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2
        assert f"another run (pid {run.pid}) is using the pipeline root" in refused.stderr
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()

    _assert_mlmd_intact(config.metadata_path)
    summary = local_runner.run(config)  # the lock died with the killed process
    states = _states(summary)
    assert all(states[c] == "cached" for c in UPSTREAM_OF_TRAINER), states
    assert states["Trainer"] == "executed"
    assert summary["blessed"] is True and summary["pushed_model"]
    assert [v for v in os.listdir(config.serving_dir)] == [os.path.basename(
        summary["pushed_model"])]  # one complete version, nothing half-written
    _assert_mlmd_intact(config.metadata_path)


def _assert_mlmd_intact(path: str) -> None:
    """SQLite's integrity check on MLMD's database, opened read-only: a missing file fails
    here instead of being created empty (and passing) by a plain connect."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM Execution").fetchone()[0] > 0


_UNPICKLERS = {"pickle", "cPickle", "cloudpickle", "dill", "marshal", "shelve", "joblib"}
_SHELLS = {("os", "system"), ("os", "popen")}


def unsafe_calls(source: str) -> List[str]:
    """`line: call` for each call in `source` that deserializes code-carrying formats, evaluates
    text or runs a shell: read from the syntax tree, so aliases (`from pickle import loads`,
    `import pickle as p`) count and a `#` inside a string hides nothing."""
    tree = ast.parse(source)
    modules: Dict[str, str] = {}  # local name → module, for `import x [as y]`
    imported: Dict[str, Tuple[str, str]] = {}  # local name → (module, name) for `from x import`
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        target: Optional[Tuple[str, str]] = None
        if isinstance(function, ast.Name):
            target = imported.get(function.id, ("builtins", function.id))
        elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
            target = (modules.get(function.value.id, function.value.id), function.attr)
        keywords = {k.arg: k.value for k in node.keywords}
        unsafe = target is not None and (
            (target[0].split(".")[0] in _UNPICKLERS and target[1] in (
                "load", "loads", "Unpickler", "open"))
            or target == ("builtins", "eval") or target == ("builtins", "exec")
            or (target[0] == "yaml" and target[1] in ("load", "unsafe_load", "full_load"))
            or target in _SHELLS)
        for name in ("shell", "allow_pickle"):
            value = keywords.get(name)
            if isinstance(value, ast.Constant) and value.value is True:
                unsafe = True
        if unsafe:
            found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
    return found


@pytest.mark.parametrize("code", [
    "import pickle\npickle.loads(b)", "from pickle import loads\nloads(b)",
    "import pickle as p\np.load(f)", "import dill\ndill.loads(b)", "marshal.loads(b)",
    "eval(text)", "exec(text)", "import yaml\nyaml.load(f)", "np.load(f, allow_pickle=True)",
    "subprocess.run(command, shell=True)", "import os\nos.system(command)",
    "x = '#'; pickle.loads(b)",
])
def test_the_unsafe_code_scan_catches_each_pattern(code):
    assert unsafe_calls(code), code


def test_the_unsafe_code_scan_passes_safe_calls():
    assert unsafe_calls("json.loads(s)\nyaml.safe_load(f)\nnp.load(f)\n"
                        "subprocess.run(['ls'], shell=False)\nmodel.evaluate(x)") == []


def test_no_code_of_ours_unpickles_or_evaluates_data():
    offenders = []
    for path in glob.glob(os.path.join(PROJECT_ROOT, "**", "*.py"), recursive=True):
        relative = os.path.relpath(path, PROJECT_ROOT)
        if relative.startswith((".venv", "tests" + os.sep)):
            continue
        with open(path, encoding="utf-8") as f:
            offenders += [f"{relative}:{call}" for call in unsafe_calls(f.read())]
    assert not offenders


@pytest.mark.pipeline
def test_the_pushed_model_carries_no_absolute_path_of_the_build_machine(
        pipeline_config, first_run):
    model = first_run["pushed_model"]
    machine_paths = {PROJECT_ROOT, pipeline_config.output_dir, pipeline_config.data.source,
                     os.path.expanduser("~"), os.path.dirname(pipeline_config.output_dir)}
    leaks = []
    for directory, _, files in os.walk(model):
        for name in files:
            with open(os.path.join(directory, name), "rb") as f:
                content = f.read()
            leaks += [f"{os.path.relpath(os.path.join(directory, name), model)}: {path}"
                      for path in machine_paths if path.encode() in content]
    assert not leaks


@pytest.mark.parametrize("field, value, message", [
    ("output_dir", "", "output_dir must be a non-empty path"),
    ("pipeline_name", "Movie Lens", "lowercase letters, digits and inner hyphens"),
    ("model_name", "../../etc", "must be one path component"),
    ("schema_file", "/etc/passwd", "must be a path inside the project"),
])
def test_user_paths_and_names_are_validated(field, value, message):
    with pytest.raises(configs.ConfigError, match=re.escape(message)):
        configs.PipelineConfig(**{"output_dir": "out", field: value})


def test_an_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(configs.ConfigError, match="exists and is not a folder"):
        configs.PipelineConfig(output_dir=str(tmp_path / "file"))
