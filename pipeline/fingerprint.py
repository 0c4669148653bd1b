"""Code fingerprints: part of a component's cache key, so editing its code re-runs it.

Components reference our code by dotted path (nothing is packaged or uploaded), and TFX hashes
no code behind a dotted path; passing this digest as an execution property closes that gap.
"""

import hashlib
import os
from typing import Iterable, List

CODE_FINGERPRINT_KEY = "code_fingerprint"  # the execution property (or custom_config key)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What each component's executor imports from this project.
EXAMPLE_GEN_CODE = ("components/movielens_example_gen.py", "components/grouplens.py",
                    "models/features.py")
MODEL_CODE = ("models",)  # Transform's preprocessing_fn and the Trainer's run_fn
EVALUATOR_CODE = ("components/gated_evaluator.py", "components/hyperparameters_gen.py",
                  "pipeline/eval_config.py", "pipeline/configs.py", "models/hparams.py",
                  "models/features.py")


def _python_files(path: str) -> List[str]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"fingerprinted source {path} does not exist")
    if os.path.isfile(path):
        return [path]
    found = []
    for directory, subdirs, files in os.walk(path):
        subdirs[:] = [d for d in subdirs if d != "__pycache__"]
        found.extend(os.path.join(directory, f) for f in files if f.endswith(".py"))
    return found


def code_fingerprint(paths: Iterable[str], root: str = PROJECT_ROOT) -> str:
    """SHA-256 over the names and contents of the .py files at `paths` (files or folders,
    relative to `root`)."""
    files = sorted({f for path in paths for f in _python_files(os.path.join(root, path))})
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()
