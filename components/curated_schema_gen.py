"""CuratedSchemaGen: TFX's ImportSchemaGen for the schema checked into this repository.

The schema file is named relative to the project root, so the same spec works locally and
in the pipeline image (where the code lives elsewhere), and its SHA-256 is an execution
property: editing the schema re-runs validation and everything after it.
"""

import hashlib
import json
import os
import tempfile
from typing import Any, Dict, List, Sequence

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import types
from tfx.components.schema_gen.import_schema_gen import executor as import_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.code_fingerprint import code_fingerprint
from models.hparams import ConfigError
from names import CODE_FINGERPRINT_KEY, PROJECT_ROOT

SCHEMA_FILE_KEY = standard_component_specs.SCHEMA_FILE_KEY
SCHEMA_SHA256_KEY = "schema_sha256"
ABSENT_FEATURES_KEY = "absent_features"  # JSON list of feature names


def require_project_path(name: str, path: str) -> None:
    """Files that ship with the code (and the image) are named relative to the project root,
    without leaving it."""
    if os.path.isabs(path) or ".." in path.split(os.sep):
        raise ConfigError(f"{name} {path!r} must be a path inside the project (it ships with "
                          f"the code and the image)")


def schema_path(relative_path: str) -> str:
    return os.path.join(PROJECT_ROOT, relative_path)


def schema_sha256(relative_path: str) -> str:
    with open(schema_path(relative_path), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CuratedSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
    PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                  SCHEMA_SHA256_KEY: ExecutionParameter(type=str),
                  ABSENT_FEATURES_KEY: ExecutionParameter(type=str),
                  CODE_FINGERPRINT_KEY: ExecutionParameter(type=str)}


def without_features(schema_text: str, absent: List[str]) -> str:
    """The schema (text format) without the named features; each must be in it."""
    schema = schema_pb2.Schema()
    text_format.Parse(schema_text, schema)
    unknown = set(absent) - {feature.name for feature in schema.feature}
    if unknown:
        raise ValueError(f"absent features {sorted(unknown)} are not in the schema")
    kept = [feature for feature in schema.feature if feature.name not in absent]
    del schema.feature[:]
    schema.feature.extend(kept)
    return text_format.MessageToString(schema)


class CuratedSchemaGenExecutor(import_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        relative = exec_properties[SCHEMA_FILE_KEY]
        if schema_sha256(relative) != exec_properties[SCHEMA_SHA256_KEY]:
            raise ValueError(f"schema {schema_path(relative)} differs from the one the pipeline "
                             f"was compiled with: rebuild the image or recompile")
        absent = json.loads(exec_properties.get(ABSENT_FEATURES_KEY) or "[]")
        if not absent:
            super().Do(input_dict, output_dict,
                       {**exec_properties, SCHEMA_FILE_KEY: schema_path(relative)})
            return
        with open(schema_path(relative)) as f:
            schema_text = without_features(f.read(), absent)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, os.path.basename(relative))
            with open(path, "w") as f:
                f.write(schema_text)
            super().Do(input_dict, output_dict, {**exec_properties, SCHEMA_FILE_KEY: path})


class CuratedSchemaGen(base_component.BaseComponent):
    SPEC_CLASS = CuratedSchemaGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(CuratedSchemaGenExecutor)

    def __init__(self, schema_file: str, absent_features: Sequence[str] = ()) -> None:
        """`schema_file`: relative to the project root, e.g. `pipeline/schema.pbtxt`.
        `absent_features`: features of the schema this data source does not have (the user
        side features of archives without a user file); the output schema leaves them out."""
        require_project_path("schema_file", schema_file)
        super().__init__(spec=CuratedSchemaGenSpec(
            schema_file=schema_file, schema_sha256=schema_sha256(schema_file),
            absent_features=json.dumps(sorted(absent_features)),
            code_fingerprint=code_fingerprint([__name__]),
            schema=types.Channel(type=standard_artifacts.Schema)))
