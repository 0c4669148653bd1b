"""LoadCheck: the candidate model loads with TensorFlow alone and answers its warm-up requests.

TF Serving refuses a model version whose warm-up requests fail, and cannot run one that needs
a Python library (TFRS, TFT, Keras...). This step loads the Trainer's SavedModel in a fresh
process with those libraries blocked (serving/tf_only_load.py), replays the warm-up file, and
writes TFX's InfraBlessing, which the Pusher requires: no model is pushed unchecked.

It is not TFX's InfraValidator: that one starts a real TF Serving (a binary or a Docker
image), which this project's machines and tests do not have. What a real TF Serving may still
refuse (e.g. an op missing from its build) is not checked here.
"""

import json
import logging
import os
import subprocess
import sys

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import InfraBlessing, Model
from tfx.utils import io_utils, path_utils

import names
from serving.tf_only_load import child_environment

# TFX's InfraValidator's conventions, which the Pusher reads (the property) and people see.
BLESSED_PROPERTY = "blessed"
BLESSED_FILE, NOT_BLESSED_FILE = "INFRA_BLESSED", "INFRA_NOT_BLESSED"
TIMEOUT_SECONDS = 900


def run_load_check(model_dir: str, timeout: float = TIMEOUT_SECONDS) -> dict:
    """serving.tf_only_load in a fresh Python process: its JSON result ("ok", "error", ...)."""
    try:
        process = subprocess.run([sys.executable, "-m", "serving.tf_only_load", model_dir],
                                 capture_output=True, text=True, env=child_environment(),
                                 timeout=timeout, cwd=names.PROJECT_ROOT, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"the load check took more than {timeout:.0f} s"}
    lines = process.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = process.stderr.strip().splitlines()[-5:]
        result = {"ok": False, "error": f"the load check process exited with status "
                                        f"{process.returncode}: " + " | ".join(tail)}
    return result


@component
def LoadCheck(model: InputArtifact[Model], blessing: OutputArtifact[InfraBlessing],
              code_fingerprint: Parameter[str]) -> None:
    """`code_fingerprint`: of this module and serving.tf_only_load, so editing them re-runs it."""
    del code_fingerprint  # only part of the cache key
    model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    result = run_load_check(model_dir)
    blessing.set_int_custom_property(BLESSED_PROPERTY, int(bool(result.get("ok"))))
    if result.get("ok"):
        io_utils.write_string_file(os.path.join(blessing.uri, BLESSED_FILE), "")
        logging.info("LoadCheck: %s loads with TensorFlow alone; %d warm-up requests answered",
                     model_dir, len(result.get("warmup", [])))
    else:
        blessing.set_string_custom_property(names.LOAD_CHECK_ERROR_KEY, result["error"])
        io_utils.write_string_file(os.path.join(blessing.uri, NOT_BLESSED_FILE), result["error"])
        logging.error("LoadCheck: %s does not load as TF Serving would load it, so it will not "
                      "be pushed: %s", model_dir, result["error"])
