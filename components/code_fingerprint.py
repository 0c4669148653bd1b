"""Code fingerprints: part of a component's cache key, so editing its code re-runs it.

Components reference our code by dotted path (nothing is packaged or uploaded), and TFX hashes
no code behind a dotted path; passing this digest as an execution property closes that gap.
The files are not listed by hand: they are every module of this project that the entry
module imports, directly or through others (read from the source with `ast`, nothing is
imported), plus the installed versions of the libraries that run our code, so an upgrade
re-runs the components too.
"""

import ast
import hashlib
import os
from importlib import metadata
from typing import Dict, Iterable, Iterator, List, Optional

from names import PROJECT_ROOT

# The libraries whose behaviour our executors and model code depend on.
LIBRARIES = ("tfx", "tensorflow", "tf-keras", "tensorflow-transform",
             "tensorflow-data-validation", "tensorflow-model-analysis",
             "tensorflow-recommenders", "apache-beam")


def library_versions() -> Dict[str, str]:
    """Installed version of each of LIBRARIES ("" when one is not installed)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def _module_file(module: str, root: str) -> Optional[str]:
    """The source file of `module` if it is one of ours (a .py file or a package under root)."""
    base = os.path.join(root, *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _imported_names(path: str, module: str) -> Iterator[str]:
    """Every module name an `import` in the file may refer to (`from a import b`: a and a.b)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), filename=path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(part for part in parent + [base] if part)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def project_files(modules: Iterable[str], root: str = PROJECT_ROOT) -> List[str]:
    """The files of `modules` and of every project module they import, transitively, with
    the `__init__.py` of each package on the way (Python runs those too)."""
    found: Dict[str, str] = {}
    pending = list(modules)
    while pending:
        module = pending.pop()
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            path = _module_file(name, root)
            if path is None or name in found:
                continue
            found[name] = path
            pending.extend(_imported_names(path, name))
    missing = [m for m in modules if m not in found]
    if missing:
        raise FileNotFoundError(f"no source for {missing} under {root}")
    return sorted(set(found.values()))


def code_fingerprint(modules: Iterable[str], root: str = PROJECT_ROOT) -> str:
    """SHA-256 over the names and contents of `project_files(modules)` and the installed
    library versions."""
    digest = hashlib.sha256()
    for path in project_files(list(modules), root):
        digest.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    for name, version in sorted(library_versions().items()):
        digest.update(f"{name}=={version}".encode())
    return digest.hexdigest()
