"""Makes every entry point run inside the project's Python 3.10 venv, creating it if missing.

Imports nothing but the standard library (and names.py, which imports nothing), so it works
from any Python.
"""

import importlib.util
import os
import subprocess
import sys

import names  # the standard library only

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")


def set_tf_environment() -> None:
    """Sets names.TF_ENVIRONMENT's variables not set already; call before TF is imported."""
    for name, value in names.TF_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def ensure_venv() -> None:
    """Re-executes the current script with the venv's interpreter unless this interpreter is
    already a Python 3.10 with the stack (the project venv, or one the user made)."""
    set_tf_environment()
    if sys.version_info[:2] == (3, 10) and importlib.util.find_spec("tfx") is not None:
        return
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "ensure_venv.sh")], check=True)
    python = os.path.join(VENV, "bin", "python")
    os.execv(python, [python] + sys.argv)
