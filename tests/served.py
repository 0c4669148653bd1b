"""Answers requests with a SavedModel in a process that can import only TensorFlow, as TF
Serving would (tests/serving_check.py is the process)."""

import json
import os
import subprocess
import sys

from serving import tf_only_load


def serve_in_subprocess(model_dir, requests, tmp_path):
    """The answers (and the warm-up replay, and any blocked import attempted) of the model in
    `model_dir` to `requests` (REST request bodies), from a TF-only child process."""
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    result = subprocess.run(
        [sys.executable, os.path.join(os.path.dirname(__file__), "serving_check.py"),
         model_dir, str(path)], capture_output=True, text=True,
        env=tf_only_load.child_environment(), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
