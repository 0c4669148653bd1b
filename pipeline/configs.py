"""Pipeline configuration as data: one PipelineConfig, passed to create_pipeline()."""

import dataclasses
import math
import os
import re
from typing import Dict, Optional, Tuple

from models.hparams import ConfigError, TrainingConfig

PIPELINE_NAME = "movielens-multitask"  # lowercase and hyphens: valid on Kubeflow too
MODEL_NAME = "movielens"
# The GroupLens archive (the file TFDS's movielens builder downloads) and its SHA-256.
ML_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML_100K_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
DEFAULT_DATA = ML_100K_URL
DISABLED = -1.0  # a threshold passed as a (run-time) parameter with this value is off


def require_project_path(name: str, path: str) -> None:
    """Files that ship with the code (and the image) are named relative to the project root,
    without leaving it."""
    if os.path.isabs(path) or ".." in path.split(os.sep):
        raise ConfigError(f"{name} {path!r} must be a path inside the project (it ships with "
                          f"the code and the image)")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the ratings come from and how they are split.

    `source`: a GroupLens `.zip` or extracted folder (100k or 1m format), an http(s) URL of
    such a zip (downloaded once into the cache), or `tfds:<name>` (e.g.
    `tfds:movielens/100k-ratings`).
    """

    source: str = DEFAULT_DATA
    train_percent: int = 80  # deterministic hash split of the examples: train / eval
    max_malformed_lines: int = 0  # more malformed input lines than this fail ExampleGen

    def __post_init__(self) -> None:
        if not 0 < self.train_percent < 100:
            raise ConfigError(f"train_percent must be in 1..99, got {self.train_percent}")
        if self.max_malformed_lines < 0:
            raise ConfigError(f"max_malformed_lines must be >= 0, got {self.max_malformed_lines}")


@dataclasses.dataclass(frozen=True)
class EvalThresholds:
    """The blessing gate. A task's thresholds apply only when its loss weight is > 0.

    Value thresholds are checked on every run; change thresholds against the last blessed
    model (TFMA ignores them on the first run, when there is no baseline). None disables one.
    """

    max_rmse: Optional[float] = 1.2
    min_top_100_accuracy: Optional[float] = 0.15
    max_rmse_increase: Optional[float] = 0.05
    max_top_100_decrease: Optional[float] = 0.02

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"threshold {field.name} must be a number >= 0 or None, "
                                  f"got {value}")

    def as_parameters(self) -> Dict[str, float]:
        """Each threshold as a float execution parameter; DISABLED (-1) stands for None."""
        return {field.name: DISABLED if getattr(self, field.name) is None
                else float(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_parameters(cls, values: Dict[str, float]) -> "EvalThresholds":
        """Inverse of as_parameters: any negative value disables its threshold."""
        return cls(**{field.name: None if values[field.name] < 0 else values[field.name]
                      for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    output_dir: str
    data: DataConfig = DataConfig()
    training: TrainingConfig = TrainingConfig()
    thresholds: EvalThresholds = EvalThresholds()
    pipeline_name: str = PIPELINE_NAME
    model_name: str = MODEL_NAME
    enable_cache: bool = True
    # The curated schema, relative to the project root (shipped with the code and the image).
    schema_file: str = "pipeline/schema.pbtxt"
    # The optional Tuner (models/tuner.py): 0 = off; else its trials, scored on this share of
    # the train split held out (never on eval).
    tuner_trials: int = 0
    tuner_validation_percent: int = 10
    beam_pipeline_args: Tuple[str, ...] = ("--direct_running_mode=in_memory",
                                           "--direct_num_workers=1")

    def __post_init__(self) -> None:
        if not self.output_dir or "\0" in self.output_dir:
            raise ConfigError(f"output_dir must be a non-empty path, got {self.output_dir!r}")
        if "://" not in self.output_dir and os.path.exists(self.output_dir) and \
                not os.path.isdir(self.output_dir):
            raise ConfigError(f"output_dir {self.output_dir!r} exists and is not a folder")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?", self.pipeline_name):
            raise ConfigError(f"pipeline_name {self.pipeline_name!r} must be lowercase letters, "
                              f"digits and inner hyphens (Kubeflow's rule), at most 64 long")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.model_name) or self.model_name in (".", ".."):
            raise ConfigError(f"model_name {self.model_name!r} must be one path component "
                              f"(letters, digits, '_', '-', '.')")
        if self.tuner_trials < 0:
            raise ConfigError(f"tuner_trials must be >= 0, got {self.tuner_trials}")
        if not 1 <= self.tuner_validation_percent <= 50:
            raise ConfigError(f"tuner_validation_percent must be in 1..50, got "
                              f"{self.tuner_validation_percent}")
        require_project_path("schema_file", self.schema_file)

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        """MLMD's SQLite file, inside the pipeline's outputs (embedded, no server)."""
        return os.path.join(self.pipeline_root, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        """TF Serving's model base directory: <serving_dir>/<version>/saved_model.pb."""
        return os.path.join(self.output_dir, "serving", self.model_name)

    # Downloads and TFDS source descriptions, shared by every output folder of this user.
    cache_dir: str = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                  "movierec-tfx", "data")
