"""AtomicPusher: TFX's Pusher, plus a version folder that appears whole and no push of a model
already being served.

What TFX 1.16's Pusher already does, and this one keeps (it calls it for the copy): it checks
the blessing, names the version by the Unix time, skips a version folder that already exists,
copies the SavedModel with `saved_model.pb` last (a loader that finds `saved_model.pb` finds
every other file), and archives a copy in the PushedModel artifact.

What it lacks, and this one adds:
- On a local filesystem, TF Serving polls the model base folder and can load a version folder
  while files are still being copied into it (everything but `saved_model.pb` is there, then
  that too: a poll in between fails a load, and TF Serving retries). Here TFX copies into a
  hidden staging folder `<base>/.incoming-<pid>/` (TF Serving ignores non-numeric names) and
  the version folder is renamed into place: one atomic step on a POSIX filesystem. Staging
  folders of processes that died mid-copy are removed by the next push.
- A model identical (same files, same bytes) to the newest served version is not pushed
  again: the PushedModel says `already_serving_version` instead.
Object stores (gs://, s3://) have no atomic rename, and one bucket may receive pushes from
concurrent runs. There TFX copies into a staging prefix unique to this push,
`<base>/.incoming-<start µs>-<random>/`; the model is then copied to its version folder with
`saved_model.pb` last (a loader that finds it finds every other file), and only folders holding
`saved_model.pb` count as versions. The version is the Unix time in microseconds (above the
newest version; if that is ahead of the clock, newest + 1 + a random offset), so two runs
publishing in the same second still get two folders; an existing folder is never written into.
Staging prefixes, and version folders without `saved_model.pb`, older than
`STALE_SECONDS` are a dead push's and are removed by the next push.
"""

import hashlib
import os
import secrets
import shutil
import time
import uuid
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils, proto_utils

import names
from components.code_fingerprint import code_fingerprint

INCOMING_PREFIX = ".incoming-"
SAVED_MODEL_FILE = "saved_model.pb"
_PUSHED_VERSION = "pushed_version"  # the property TFX's Pusher sets on a PushedModel
# On an object store, a staging prefix or an incomplete version folder this old belongs to a
# push that died (no push copies one model for six hours).
STALE_SECONDS = 6 * 3600
_MICROSECONDS = 1_000_000


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
    """The complete numeric version folders TF Serving would load, oldest first."""
    if not fileio.isdir(base_directory):
        return []
    folders = (name.rstrip("/") for name in fileio.listdir(base_directory))
    return sorted(int(name) for name in folders if name.isdigit() and fileio.exists(
        os.path.join(base_directory, name, SAVED_MODEL_FILE)))


def already_served_version(model_path: str, base_directory: str) -> Optional[int]:
    """The newest served version if it holds exactly this model, else None."""
    versions = served_versions(base_directory)
    if versions and directory_digest(model_path) == directory_digest(
            os.path.join(base_directory, str(versions[-1]))):
        return versions[-1]
    return None


def _remove_abandoned_copies(base_directory: str) -> None:
    """Deletes staging folders whose pushing process is gone (it died mid-copy)."""
    if not os.path.isdir(base_directory):
        return
    for name in os.listdir(base_directory):
        if not name.startswith(INCOMING_PREFIX):
            continue
        try:
            os.kill(int(name.rsplit("-", 1)[-1]), 0)
            continue  # still copying
        except (ProcessLookupError, ValueError):
            shutil.rmtree(os.path.join(base_directory, name), ignore_errors=True)
        except PermissionError:
            continue  # someone else's live process


def _now_us() -> int:
    return time.time_ns() // 1000


def _remove_abandoned_object_store_copies(base_directory: str, now_us: int) -> None:
    """Deletes staging prefixes and incomplete version folders older than STALE_SECONDS.

    Their names carry their start time (µs); a version folder named in seconds by an older
    push reads as 1970 here, so an incomplete one of those is removed too.
    """
    if not fileio.isdir(base_directory):
        return
    oldest_live = now_us - STALE_SECONDS * _MICROSECONDS
    for name in (entry.rstrip("/") for entry in fileio.listdir(base_directory)):
        path = os.path.join(base_directory, name)
        if name.startswith(INCOMING_PREFIX):
            started = name[len(INCOMING_PREFIX):].split("-", 1)[0]
            stale = not started.isdigit() or int(started) < oldest_live
        else:
            stale = (name.isdigit() and int(name) < oldest_live
                     and not fileio.exists(os.path.join(path, SAVED_MODEL_FILE)))
        if stale:
            logging.info("Removing %s, left by a push that did not finish.", path)
            io_utils.delete_dir(path)


def _new_object_store_version(base_directory: str, now_us: int) -> int:
    """A version above every existing one and unlikely to be chosen by a concurrent push."""
    folders = [int(name.rstrip("/")) for name in fileio.listdir(base_directory)
               if name.rstrip("/").isdigit()] if fileio.isdir(base_directory) else []
    newest = max(folders, default=0)
    version = now_us if now_us > newest else newest + 1 + secrets.randbelow(_MICROSECONDS)
    while fileio.exists(os.path.join(base_directory, str(version))):
        version += 1 + secrets.randbelow(_MICROSECONDS)
    return version


def _publish(staged: str, version_path: str) -> None:
    """Copies a staged SavedModel to its version folder, `saved_model.pb` last.

    Never over an existing file (TFX's `copy_dir` would first delete an existing folder, a
    concurrent push's): a name clash fails the push instead of mixing two models.
    """
    files = _files(staged)
    for name in sorted(files, key=lambda name: name == SAVED_MODEL_FILE):
        target = os.path.join(version_path, name)
        fileio.makedirs(os.path.dirname(target))
        fileio.copy(os.path.join(staged, name), target, overwrite=False)


def _destination(exec_properties: Dict[str, Any]) -> pusher_pb2.PushDestination:
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                              destination)
    if destination.WhichOneof("destination") != "filesystem":
        raise ValueError("AtomicPusher pushes to a filesystem destination only")
    return destination


class AtomicPusherExecutor(pusher_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        # Which model this push is about: the Evaluator's next baseline is the served one.
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        model_push.set_int_custom_property(names.PUSHED_MODEL_ID_KEY, model.id)
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = _destination(exec_properties)
        base_directory = destination.filesystem.base_directory
        served = already_served_version(self.GetModelPath(input_dict), base_directory)
        if served is not None:
            logging.info("Model already served as version %s; not pushed again.", served)
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(names.ALREADY_SERVING_KEY, str(served))
            return
        if _is_local(base_directory):
            _remove_abandoned_copies(base_directory)
            staging = os.path.join(base_directory, f"{INCOMING_PREFIX}{os.getpid()}")
            if fileio.exists(staging):  # this process's own failed attempt: TFX would skip it
                io_utils.delete_dir(staging)
        else:
            now_us = _now_us()
            _remove_abandoned_object_store_copies(base_directory, now_us)
            staging = os.path.join(base_directory,
                                   f"{INCOMING_PREFIX}{now_us}-{uuid.uuid4().hex}")
        destination.filesystem.base_directory = staging
        super().Do(input_dict, output_dict, {
            **exec_properties,
            standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)})
        staged = os.path.join(staging, model_push.get_string_custom_property(_PUSHED_VERSION))
        if _is_local(base_directory):
            # TFX names versions by the second: a push in the same second as the newest gets +1.
            newest = served_versions(base_directory)
            version = str(max(int(os.path.basename(staged)), newest[-1] + 1 if newest else 0))
            serving_path = os.path.join(base_directory, version)
            os.rename(staged, serving_path)
        else:
            version = str(_new_object_store_version(base_directory, _now_us()))
            serving_path = os.path.join(base_directory, version)
            _publish(staged, serving_path)
        io_utils.delete_dir(staging)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
        logging.info("Model pushed to %s.", serving_path)


class AtomicPusherSpec(standard_component_specs.PusherSpec):
    PARAMETERS = {**standard_component_specs.PusherSpec.PARAMETERS,
                  names.CODE_FINGERPRINT_KEY: ExecutionParameter(type=str)}


class AtomicPusher(base_component.BaseComponent):
    """TFX's Pusher (same inputs, output and destination) with AtomicPusherExecutor."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
                 push_destination: pusher_pb2.PushDestination,
                 infra_blessing: Optional[types.BaseChannel] = None) -> None:
        """`infra_blessing`: when given, the model is pushed only if it is blessed too."""
        super().__init__(spec=AtomicPusherSpec(
            model=model, model_blessing=model_blessing, infra_blessing=infra_blessing,
            push_destination=push_destination,
            code_fingerprint=code_fingerprint([__name__]),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
