"""CuratedSchemaGen: TFX's ImportSchemaGen for the schema checked into this repository.

The schema file is named relative to the project root, so the same spec works locally and
in the pipeline image (where the code lives elsewhere), and its SHA-256 is an execution
property: editing the schema re-runs validation and everything after it.
"""

import hashlib
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.schema_gen.import_schema_gen import executor as import_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from pipeline.configs import require_project_path
from pipeline.fingerprint import PROJECT_ROOT

SCHEMA_FILE_KEY = standard_component_specs.SCHEMA_FILE_KEY
SCHEMA_SHA256_KEY = "schema_sha256"


def schema_path(relative_path: str) -> str:
    return os.path.join(PROJECT_ROOT, relative_path)


def schema_sha256(relative_path: str) -> str:
    with open(schema_path(relative_path), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CuratedSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
    PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                  SCHEMA_SHA256_KEY: ExecutionParameter(type=str)}


class CuratedSchemaGenExecutor(import_executor.Executor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        relative = exec_properties[SCHEMA_FILE_KEY]
        if schema_sha256(relative) != exec_properties[SCHEMA_SHA256_KEY]:
            raise ValueError(f"schema {schema_path(relative)} differs from the one the pipeline "
                             f"was compiled with: rebuild the image or recompile")
        super().Do(input_dict, output_dict,
                   {**exec_properties, SCHEMA_FILE_KEY: schema_path(relative)})


class CuratedSchemaGen(base_component.BaseComponent):
    SPEC_CLASS = CuratedSchemaGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(CuratedSchemaGenExecutor)

    def __init__(self, schema_file: str) -> None:
        """`schema_file`: relative to the project root, e.g. `pipeline/schema.pbtxt`."""
        require_project_path("schema_file", schema_file)
        super().__init__(spec=CuratedSchemaGenSpec(
            schema_file=schema_file, schema_sha256=schema_sha256(schema_file),
            schema=types.Channel(type=standard_artifacts.Schema)))
