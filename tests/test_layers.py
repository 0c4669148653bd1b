"""The layers point one way: runners → pipeline → components → models (and the data package,
and the serving package, which imports names only), with `names` at the bottom importing
nothing of ours.

Read from the source (`ast`), so a lower layer importing a higher one fails here even when
the import sits inside a function.
"""

import ast
import os
import subprocess
import sys
from typing import Dict, Iterator, Set, Tuple

from names import PROJECT_ROOT

# What each top-level package or module of ours may import (besides itself and libraries).
_BASE = {"names"}
_DATA = _BASE | {"movielens"}
_MODELS = _BASE | {"models"}
# The serving package (TF-Serving-side code: the client and the TF-only load check) imports
# names only, so components may use it: LoadCheck runs serving.tf_only_load.
_SERVING = _BASE | {"serving"}
_COMPONENTS = _DATA | _MODELS | _SERVING | {"components"}
_PIPELINE = _COMPONENTS | {"pipeline"}
_RUNNERS = _PIPELINE | {"runner", "bootstrap", "local_runner", "kubeflow_runner"}
ALLOWED: Dict[str, Set[str]] = {
    "names": set(),
    "movielens": _DATA,
    "models": _MODELS,
    "components": _COMPONENTS,
    "pipeline": _PIPELINE,
    "runner": _RUNNERS,
    "local_runner": _RUNNERS,
    "kubeflow_runner": _RUNNERS,
    "replay": _RUNNERS,
    # Runs before the venv exists, from any Python: names (the standard library only) at most.
    "bootstrap": _BASE,
    # Beside the pipeline: the serving client talks to a model through names only; studies and
    # benchmarks may use anything below the runners (and run the runners as processes).
    "serving": _SERVING,
    "experiments": _RUNNERS | {"experiments"},
    "bench": _RUNNERS | {"bench"},
}
OURS = set(ALLOWED) | {"tests"}


def _modules() -> Iterator[Tuple[str, str]]:
    """(top-level name, path) of every .py file of ours, tests excluded."""
    for entry in sorted(os.listdir(PROJECT_ROOT)):
        path = os.path.join(PROJECT_ROOT, entry)
        if entry.endswith(".py"):
            yield entry[:-3], path
        elif os.path.isdir(path) and entry in ALLOWED:
            for directory, _, files in os.walk(path):
                yield from ((entry, os.path.join(directory, f)) for f in files if f.endswith(".py"))


def _imported_top_levels(path: str) -> Iterator[Tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module.split(".")[0]


def test_every_module_of_ours_has_a_layer():
    unknown = {top for top, _ in _modules()} - set(ALLOWED)
    assert not unknown, f"give {sorted(unknown)} a place in ALLOWED"


def test_no_layer_imports_a_higher_one():
    violations = [
        f"{os.path.relpath(path, PROJECT_ROOT)}:{line}: imports {imported}"
        for top, path in _modules()
        for line, imported in _imported_top_levels(path)
        if imported in OURS and imported != top and imported not in ALLOWED[top]]
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_the_checker_sees_a_violation(tmp_path):
    """A lower layer importing a higher one is found (the check above can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from pipeline import configs\n")
    assert [imported for _, imported in _imported_top_levels(str(bad))] == ["pipeline"]
    assert "pipeline" not in ALLOWED["components"]


def test_names_and_the_serving_client_import_no_tensorflow():
    """The client (and the names it shares with the model) load without the training stack."""
    code = ("import sys; import names; import serving.client; "
            "heavy = [m for m in ('tensorflow', 'tfx', 'apache_beam') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)
