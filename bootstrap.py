"""Makes every entry point run inside the project's Python 3.10 venv, creating it if missing.

Imports nothing but the standard library, so it works from any Python.
"""

import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")


def ensure_venv() -> None:
    """Re-executes the current script with the venv's interpreter unless this interpreter is
    already a Python 3.10 with the stack (the project venv, or one the user made)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFRS needs Keras 2, before TF loads
    if sys.version_info[:2] == (3, 10) and importlib.util.find_spec("tfx") is not None:
        return
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "ensure_venv.sh")], check=True)
    python = os.path.join(VENV, "bin", "python")
    os.execv(python, [python] + sys.argv)
