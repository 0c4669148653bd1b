"""AtomicPusher: TFX's Pusher, but a version directory appears whole or not at all.

TF Serving polls the model base directory and loads any new numeric version it sees. TFX's
Pusher copies files into `<base>/<version>` in place, so a poll during the copy can find a
half-written model. This one copies into a hidden `<base>/.incoming-<version>-<pid>` (TF
Serving ignores non-numeric names) and renames it to `<base>/<version>`: one atomic step on a
POSIX filesystem. A model identical to the newest served version is not pushed again.

Object stores (gs://, s3://) have no atomic directory rename, only atomic objects. There the
version is copied in place with `saved_model.pb` last: a SavedModel cannot be loaded without
it, and once it exists every other file does, so a poll during the copy sees an unloadable
folder (TF Serving retries failed loads: `--max_num_load_retries`, default 5, one minute
apart) and never a partial model. Only folders holding `saved_model.pb` count as versions.
"""

import hashlib
import os
import shutil
import time
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils
from tfx.components import Pusher

INCOMING_PREFIX = ".incoming-"
ALREADY_SERVING_KEY = "already_serving_version"


SAVED_MODEL_FILE = "saved_model.pb"


def _is_local(path: str) -> bool:
    return "://" not in path


def _files(path: str) -> List[str]:
    """Every file below `path`, as sorted relative names."""
    prefix = path.rstrip("/") + "/"
    return sorted(os.path.join(directory, name)[len(prefix):]
                  for directory, _, files in fileio.walk(path) for name in files)


def directory_digest(path: str) -> str:
    """SHA-256 over the relative names and contents of every file below `path`."""
    digest = hashlib.sha256()
    for name in _files(path):
        digest.update(name.encode())
        with fileio.open(os.path.join(path, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def served_versions(base_directory: str) -> List[int]:
    """The complete numeric version directories TF Serving would load, oldest first."""
    if not fileio.isdir(base_directory):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(base_directory))
    return sorted(int(name) for name in names if name.isdigit() and fileio.exists(
        os.path.join(base_directory, name, SAVED_MODEL_FILE)))


def _remove_abandoned_copies(base_directory: str) -> None:
    """Deletes `.incoming-*` folders whose pushing process is gone (it died mid-copy)."""
    if not os.path.isdir(base_directory):
        return
    for name in os.listdir(base_directory):
        if not name.startswith(INCOMING_PREFIX):
            continue
        pid = int(name.rsplit("-", 1)[-1])
        try:
            os.kill(pid, 0)
            continue  # still copying
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base_directory, name), ignore_errors=True)
        except PermissionError:
            continue  # someone else's live process


def _copy_saved_model_last(model_path: str, target: str) -> None:
    """Copies file by file, `saved_model.pb` last (each object appears whole on GCS/S3)."""
    for name in sorted(_files(model_path), key=lambda n: n == SAVED_MODEL_FILE):
        fileio.makedirs(os.path.dirname(os.path.join(target, name)))
        fileio.copy(os.path.join(model_path, name), os.path.join(target, name), overwrite=True)


def push_atomically(model_path: str, base_directory: str) -> Optional[str]:
    """Copies the model to a new version directory; None when the newest version equals it."""
    local = _is_local(base_directory)
    if local:
        _remove_abandoned_copies(base_directory)
    versions = served_versions(base_directory)
    if versions and directory_digest(model_path) == directory_digest(
            os.path.join(base_directory, str(versions[-1]))):
        return None
    version = max(int(time.time()), versions[-1] + 1 if versions else 0)
    target = os.path.join(base_directory, str(version))
    fileio.makedirs(base_directory)
    if local:
        incoming = os.path.join(base_directory, f"{INCOMING_PREFIX}{version}-{os.getpid()}")
        io_utils.copy_dir(model_path, incoming)
        os.rename(incoming, target)
    else:
        _copy_saved_model_last(model_path, target)
    return str(version)


class AtomicPusherExecutor(pusher_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError("AtomicPusher pushes to a filesystem destination only")
        base_directory = destination.filesystem.base_directory
        model_path = self.GetModelPath(input_dict)
        version = push_atomically(model_path, base_directory)
        if version is None:
            newest = served_versions(base_directory)[-1]
            logging.info("Model already served as version %s; not pushed again.", newest)
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(ALREADY_SERVING_KEY, str(newest))
            return
        serving_path = os.path.join(base_directory, version)
        fileio.makedirs(model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
        logging.info("Model pushed to %s.", serving_path)


class AtomicPusher(Pusher):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)
