"""Pipeline configuration as data: one PipelineConfig, passed to create_pipeline()."""

import dataclasses
import os
import re
from typing import Dict, List, Optional, Tuple

import names
from components.curated_schema_gen import require_project_path
from components.eval_config import EvalThresholds
from components.movielens_example_gen.time_split import SPLIT_METHODS
from models.hparams import ConfigError, TrainingConfig
from movielens.source import ML_100K_URL

PIPELINE_NAME = "movielens-multitask"  # lowercase and hyphens: valid on Kubeflow too
DEFAULT_DATA = ML_100K_URL


# The DirectRunner's one in-process worker: the Beam components' default, and always
# Transform's (pipeline.py says why).
IN_MEMORY_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the ratings come from and how they are split.

    `source`: a GroupLens `.zip` or extracted folder (100k, 1m, 10m, 20m, 25m, latest), an
    http(s) URL of such a zip (downloaded once into the cache), `tfds:<name>` (e.g.
    `tfds:movielens/100k-ratings`), or a local drops folder of spans (`span-1/`, `span-2/`,
    ... or `span-1.zip`, ...; local runs only).
    """

    source: str = DEFAULT_DATA
    train_percent: int = 80  # train's share of the ratings; the rest is eval
    max_malformed_lines: int = 0  # more malformed input lines than this fail ExampleGen
    # "hash": TFX's deterministic hash split of the examples (the TFRS tutorial's protocol);
    # "time": train before one cut-off time, eval after (no user's future in train).
    split: str = "hash"
    # A drops folder of spans only (movielens/source.py). `span`: the span ExampleGen ingests
    # (None: the newest). `window`: the Trainer trains on the train splits of the last `window`
    # spans up to it (1: that span alone); Transform's vocabularies cover every span up to it.
    span: Optional[int] = None
    window: int = 1

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ConfigError(f"window must be >= 1 (spans the Trainer reads), got {self.window}")
        if self.span is not None and self.span < 0:
            raise ConfigError(f"span must be >= 0 (or None: the newest), got {self.span}")
        if self.split not in SPLIT_METHODS:
            raise ConfigError(f"split must be one of {SPLIT_METHODS}, got {self.split!r}")
        if not 0 < self.train_percent < 100:
            raise ConfigError(f"train_percent must be in 1..99, got {self.train_percent}")
        if self.max_malformed_lines < 0:
            raise ConfigError(f"max_malformed_lines must be >= 0, got {self.max_malformed_lines}")


@dataclasses.dataclass(frozen=True)
class VertexTraining:
    """Run the Trainer as a Vertex AI Training job on `workers` machines (Kubeflow only).

    Vertex starts one chief and `workers - 1` workers from `image` and gives each a TF_CONFIG;
    `models/run_fn.py` trains under the MultiWorkerMirroredStrategy it describes.
    """

    project: str
    region: str
    image: str
    workers: int = 2
    machine_type: str = "n1-standard-8"

    def __post_init__(self) -> None:
        for name in ("project", "region", "image", "machine_type"):
            if not getattr(self, name):
                raise ConfigError(f"Vertex training needs {name}")
        if self.workers < 1:
            raise ConfigError(f"Vertex training workers must be >= 1, got {self.workers}")

    def worker_pool_specs(self) -> List[Dict[str, object]]:
        """Vertex's pools: the chief, then the other workers (Vertex names them so in
        TF_CONFIG). TFX replaces each container's command with its own entry point."""
        container = {"image_uri": self.image,
                     "env": [{"name": name, "value": value}
                             for name, value in names.TF_ENVIRONMENT.items()]}
        pool = {"machine_spec": {"machine_type": self.machine_type}, "container_spec": container}
        pools: List[Dict[str, object]] = [{**pool, "replica_count": 1}]
        if self.workers > 1:
            pools.append({**pool, "replica_count": self.workers - 1})
        return pools


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    output_dir: str
    data: DataConfig = DataConfig()
    training: TrainingConfig = TrainingConfig()
    thresholds: EvalThresholds = EvalThresholds()
    pipeline_name: str = PIPELINE_NAME
    model_name: str = names.MODEL_NAME
    enable_cache: bool = True
    # The curated schema, relative to the project root (shipped with the code and the image).
    schema_file: str = "pipeline/schema.pbtxt"
    # The optional Tuner (models/tuner.py): 0 = off; else its trials, scored on this share of
    # the train split held out (never on eval).
    tuner_trials: int = 0
    tuner_validation_percent: int = 10
    beam_pipeline_args: Tuple[str, ...] = IN_MEMORY_BEAM_ARGS
    # DirectRunner worker processes of ExampleGen, StatisticsGen and the Evaluator when run
    # locally: 1, the default, is one in-memory process. Beam's multi-process DirectRunner once
    # lost input silently at 10M ratings and is not yet shown exact there, so several are
    # opt-in; their record counts are reconciled (components/record_counts.py) and a loss
    # fails the run. Transform always runs in one in-memory process (local_beam_args).
    beam_workers: int = 1
    # With spans: past a drift threshold between this span and the previous one, "stop" the run
    # before Transform or only "warn" (components/drift_gate.py).
    drift_mode: str = "stop"
    # Kubeflow only: the Trainer as a multi-worker Vertex AI Training job (None: in the pod).
    vertex_training: Optional[VertexTraining] = None

    def local_beam_args(self, multi_process: bool) -> List[str]:
        """A local Beam component's own DirectRunner options, after the pipeline's (so they
        win): `beam_workers` processes for a stage that may use several (`multi_process`:
        ExampleGen, StatisticsGen, the Evaluator), one in-memory process for Transform (its
        analysis on several processes lost users at 10M ratings, docs/benchmarks.md)."""
        if not multi_process:
            return list(IN_MEMORY_BEAM_ARGS)
        if self.beam_workers == 1:
            return []
        return ["--direct_running_mode=multi_processing",
                f"--direct_num_workers={self.beam_workers}"]

    def __post_init__(self) -> None:
        if not self.output_dir or "\0" in self.output_dir:
            raise ConfigError(f"output_dir must be a non-empty path, got {self.output_dir!r}")
        if "://" not in self.output_dir and os.path.exists(self.output_dir) and \
                not os.path.isdir(self.output_dir):
            raise ConfigError(f"output_dir {self.output_dir!r} exists and is not a folder")
        if self.beam_workers < 1:
            raise ConfigError(f"beam_workers must be >= 1 (1 = one in-memory process), got "
                              f"{self.beam_workers}")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?", self.pipeline_name):
            raise ConfigError(f"pipeline_name {self.pipeline_name!r} must be lowercase letters, "
                              f"digits and inner hyphens (Kubeflow's rule), at most 64 long")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.model_name) or self.model_name in (".", ".."):
            raise ConfigError(f"model_name {self.model_name!r} must be one path component "
                              f"(letters, digits, '_', '-', '.')")
        if self.drift_mode not in names.DRIFT_MODES:
            raise ConfigError(f"drift_mode must be one of {names.DRIFT_MODES}, got "
                              f"{self.drift_mode!r}")
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
