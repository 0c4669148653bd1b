"""Code fingerprints: part of a component's cache key, so editing its code re-runs it.

Components reference our code by dotted path (nothing is packaged or uploaded), and TFX hashes
no code behind a dotted path; passing this digest as an execution property closes that gap.
"""

import hashlib
import os
from typing import Iterable

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_fingerprint(packages: Iterable[str], root: str = PROJECT_ROOT) -> str:
    """SHA-256 over the names and contents of every .py file in the given packages of `root`."""
    digest = hashlib.sha256()
    for package in sorted(packages):
        folder = os.path.join(root, package)
        for directory, subdirs, files in sorted(os.walk(folder)):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(directory, name)
                digest.update(os.path.relpath(path, root).encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()
