"""Training hyperparameters: one dataclass, passed to the Trainer through custom_config."""

import dataclasses
import json
import math
from typing import Any, Dict, Tuple

OPTIMIZERS = ("adagrad", "adam", "sgd")


# The fields a run can set without recompiling the pipeline (Kubeflow run-time parameters).
RUNTIME_HYPERPARAMETERS = {"rating_weight": float, "retrieval_weight": float, "epochs": int,
                           "learning_rate": float}


class ConfigError(ValueError):
    """A configuration value is invalid; the message names it."""


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything that shapes the trained model. Defaults reproduce the TFRS multitask tutorial."""

    rating_weight: float = 1.0
    retrieval_weight: float = 1.0
    embedding_dim: int = 32
    rating_layers: Tuple[int, ...] = (256, 128)
    optimizer: str = "adagrad"
    learning_rate: float = 0.1
    epochs: int = 3
    train_batch_size: int = 8192
    eval_batch_size: int = 4096
    top_ks: Tuple[int, ...] = (1, 5, 10, 50, 100)
    seed: int = 42
    serving_max_k: int = 100  # largest k the `recommend` / `similar_movies` signatures accept

    def __post_init__(self) -> None:
        for name in ("rating_weight", "retrieval_weight", "learning_rate"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.rating_weight < 0 or self.retrieval_weight < 0:
            raise ConfigError(
                f"loss weights must be >= 0, got rating_weight={self.rating_weight}, "
                f"retrieval_weight={self.retrieval_weight}")
        if self.rating_weight == 0 and self.retrieval_weight == 0:
            raise ConfigError("at least one of rating_weight and retrieval_weight must be > 0")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        for name in ("embedding_dim", "epochs", "train_batch_size", "eval_batch_size",
                     "serving_max_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.top_ks or any(k < 1 for k in self.top_ks):
            raise ConfigError(f"top_ks must be positive, got {self.top_ks}")

    def with_overrides(self, values: Dict[str, Any]) -> "TrainingConfig":
        """This config with some fields replaced (e.g. run-time hyperparameters), validated."""
        return TrainingConfig.from_dict({**json.loads(self.to_json()), **values})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "TrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training config keys: {unknown}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "TrainingConfig":
        return cls.from_dict(json.loads(text))
