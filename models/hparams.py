"""Training hyperparameters: one dataclass, passed to the Trainer through custom_config."""

import dataclasses
import json
import math
from typing import Any, Dict, Tuple

import names

OPTIMIZERS = ("adagrad", "adam", "sgd")
RETRIEVAL_NEGATIVES = ("in_batch", "catalog")
# What early stopping watches on the validation split, and whether lower is better.
EARLY_STOPPING_MONITORS = {"loss": "min", "rmse": "min", "top_100": "max",
                           names.RMSE_MINUS_TOP_100: "min"}


# The fields a run can set without recompiling the pipeline (Kubeflow run-time parameters).
RUNTIME_HYPERPARAMETERS = {"rating_weight": float, "retrieval_weight": float, "epochs": int,
                           "learning_rate": float}


# The key under which a TrainingConfig (as JSON) travels in components' custom_config and
# execution properties: the Trainer's, the Tuner's and the Evaluator's.
TRAINING_CONFIG_KEY = "training_config"
# The Tuner's settings in its custom_config: {"max_trials": int, "validation_percent": int}.
TUNING_KEY = "tuning"


# Levers whose tables are rebuilt from each run's own data, so a base model's rows of them
# may mean something else in this run: a config with one of them cannot warm-start.
_TIME_BINS_CHANGE = ("its time bins are spans of each run's own data, so a base model's bin b "
                     "may cover another period than this run's bin b")
_NO_WARM_START = {
    "title_tokens": "its token vocabulary is rebuilt from each run's titles, so a base model's "
                    "token rows and embeddings may mean other words",
    "rating_time_bias": _TIME_BINS_CHANGE,
    "query_time": _TIME_BINS_CHANGE,
}


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
    # Largest request the client-facing signatures accept (rows; excluded titles per row), so
    # one request cannot take the server's memory: the rest fail with InvalidArgument.
    serving_max_batch: int = 1024
    serving_max_exclusions: int = 10_000
    # recommend_ranked (and its measurement): this many titles by retrieval score, ordered by
    # the rating head.
    rerank_depth: int = 100
    # Levers beyond the tutorial; their defaults leave the tutorial's model unchanged.
    rating_biases: bool = False  # rating = train mean + user bias + movie bias + MLP
    embedding_l2: float = 0.0  # L2 penalty on the batch's user and movie embeddings
    retrieval_temperature: float = 1.0  # in-batch softmax over scores / temperature
    # logQ correction: in-batch negatives are drawn by popularity; subtracting log(frequency)
    # from the training logits makes scores estimate p(movie | user), popularity included.
    sampling_bias_correction: bool = False
    # An in-batch negative that is the example's own title (the same title, another rating in
    # the batch) is dropped from the softmax instead of being pushed away from the user.
    remove_accidental_hits: bool = False
    # The retrieval loss's negatives: the batch's other titles (the tutorial's in-batch
    # softmax) or every catalog title (a full softmax, what the catalog-wide top-K ranks by;
    # no sampling, so no logQ correction or accidental hits to remove).
    retrieval_negatives: str = "in_batch"
    validation_percent: int = 0  # train examples held out (hash of the pair) for early stopping
    early_stopping_patience: int = 0  # 0 = train all `epochs`; else stop, keep the best epoch
    # What early stopping watches on the validation split: the loss, rmse, top_100 (of the
    # catalog) or rmse_minus_top_100 (both tasks: the loss's best epoch is retrieval's,
    # summed over the batch, and can be past top-100's best). With rating_head_epochs, top_100:
    # the head's own epochs then fit the ratings, and the validation RMSE of a joint epoch
    # is not the RMSE the model ends with (docs/experiments.md, "Which joint epoch").
    early_stopping_monitor: str = "loss"
    label_fraction: float = 1.0  # keep this share of training ratings (hash of the pair)
    recall_ks: Tuple[int, ...] = (10, 50, 100)  # per-user Recall@K, rated movies removed
    # Compile the training step with XLA (one replica only): ~1.5x the steps per second on 2
    # CPU cores (docs/benchmarks.md); the losses agree to float32 rounding, not bit for bit.
    jit_compile: bool = True
    # Continuous training: start from the base model the Trainer is given (the served model):
    # rows of known users and titles and every other layer keep their trained weights, new ids
    # start fresh (models/warm_start.py). Without a base model, or with one whose layers do not
    # fit this config, the run starts cold and says why (names.WARM_START_FILE).
    warm_start: bool = False
    warm_start_epochs: int = 0  # epochs of a run that did warm-start; 0 = `epochs`
    # Side features (models/towers.py): each tower adds embeddings of its id's features to
    # the id's embedding, so the tower's output stays one `embedding_dim` vector.
    movie_genres: bool = False  # the mean of the title's genres' embeddings
    user_features: bool = False  # age bucket, gender, occupation, zip prefix (GroupLens 100k/1m)
    # The mean of the title's words' embeddings (its year among them), words of 2+ titles.
    title_tokens: bool = False
    # This share of the fit examples (seeded hash of the pair) trains with the user id replaced
    # by the OOV id, so the OOV row (and with user_features the feature embeddings) learns
    # what to recommend to a user never seen: a cold start.
    user_id_dropout: float = 0.0
    # This share of the fit examples (another seeded hash of the pair) trains as a user sent
    # with nothing: the OOV id and every user feature unknown, so with user_features the
    # unknown-feature embeddings learn too, and an unknown user sent without features gets a
    # trained answer (with user_id_dropout alone, dropped examples keep their features).
    user_feature_dropout: float = 0.0
    # The rating head's own user and movie factors (this many each; 0 = none): their dot
    # product is added to the predicted rating, as in biased matrix factorization. Only the
    # rating loss trains them, so the retrieval loss, whose sum over the batch dominates the
    # shared embeddings' gradient, cannot take them over.
    rating_factors: int = 0
    rating_factor_l2: float = 0.0  # L2 penalty on the batch's rating factors (per example)
    rating_bias_l2: float = 0.0  # L2 penalty on the batch's rating biases (per example)
    # SVD++'s implicit feedback: a user's rating factors add the normalized sum of implicit
    # factors of the titles the user has in the fit examples (which titles they chose to
    # rate says something beside the stars). The model keeps a users × titles table of them.
    rating_history: bool = False
    # The rating head adds a bias per time bin of the rating's timestamp and one per (title,
    # time bin) (timeSVD++'s b_bin, b_i,bin; bins: names.RATING_TIME_BIN). A prediction served
    # without a time is for now, the last bin. Only the rating loss trains them.
    rating_time_bias: bool = False
    # The user tower adds an embedding of the rating's time bin: the query's context (what
    # people watched then), so retrieval, and the rating head through the user embedding,
    # see when. Recommendations served without a time are for now, the last bin.
    query_time: bool = False
    # After early stopping chose an epoch, train a new model (same seed) on the whole train
    # split, the validation carve-out included, for that many epochs: the exported model then
    # learns from every training example, not 100 - validation_percent % of them.
    refit: bool = False
    # Polyak averaging (models/weight_average.py): an exponential moving average of the
    # weights with this decay per training step (0 = off) is what validation measures, early
    # stopping keeps and the run exports; the steps train the raw weights.
    weight_averaging: float = 0.0
    # Dropout rate after each hidden layer of the rating head's MLP (0 = none), in training only.
    rating_dropout: float = 0.0
    # After the joint epochs, this many epochs of the rating head alone, the towers (and so
    # retrieval) frozen; with early stopping at most this many, stopping on validation RMSE
    # (the joint epoch is chosen for both tasks, the head's for the ratings). 0 = none.
    rating_head_epochs: int = 0
    # The learning rate of the rating head's own epochs (0 = `learning_rate`). On ML-100K
    # neither a finer nor a coarser step did better (docs/experiments.md).
    rating_head_learning_rate: float = 0.0
    # Dropout after each hidden layer of the rating MLP during the rating head's own epochs
    # (rating_dropout is the joint epochs'): regularizes the head without changing which joint
    # epoch early stopping keeps, so retrieval stays as it is.
    rating_head_dropout: float = 0.0
    # Outside training, the predicted rating is clipped to the range of the fit examples'
    # ratings (1..5 on GroupLens's older sets): a prediction past the scale can only be
    # further from the truth than the scale's end. Training sees the raw prediction, so the
    # gradient is the same.
    rating_clip: bool = False
    # The rating MLP reads the elementwise product of the user and movie embeddings beside
    # the two (the dot product's terms; an MLP over a concatenation approximates a product
    # poorly: Rendle et al. 2020, "Neural Collaborative Filtering vs. Matrix Factorization
    # Revisited").
    rating_mlp_product: bool = False

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
                     "serving_max_k", "serving_max_batch", "serving_max_exclusions",
                     "rerank_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.top_ks or any(k < 1 for k in self.top_ks):
            raise ConfigError(f"top_ks must be positive, got {self.top_ks}")
        if any(k < 1 for k in self.recall_ks):
            raise ConfigError(f"recall_ks must be positive, got {self.recall_ks}")
        if any(units < 1 for units in self.rating_layers):
            raise ConfigError(f"rating_layers must be positive sizes, got {self.rating_layers}")
        for name in ("embedding_l2", "retrieval_temperature", "label_fraction",
                     "rating_factor_l2", "rating_bias_l2", "rating_head_learning_rate"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)}")
        for name in ("embedding_l2", "rating_factor_l2", "rating_bias_l2", "rating_factors",
                     "rating_head_learning_rate"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.rating_history and not self.rating_factors:
            raise ConfigError("rating_history needs rating_factors > 0 (it adds to them)")
        if self.rating_factor_l2 and not self.rating_factors:
            raise ConfigError("rating_factor_l2 needs rating_factors > 0 (it penalizes them)")
        if self.rating_bias_l2 and not self.rating_biases:
            raise ConfigError("rating_bias_l2 needs rating_biases (it penalizes them)")
        if self.retrieval_temperature <= 0:
            raise ConfigError(
                f"retrieval_temperature must be > 0, got {self.retrieval_temperature}")
        for name in ("user_id_dropout", "user_feature_dropout", "weight_averaging",
                     "rating_dropout", "rating_head_dropout"):
            if not (math.isfinite(getattr(self, name)) and 0 <= getattr(self, name) < 1):
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.user_feature_dropout and not self.user_features:
            raise ConfigError("user_feature_dropout needs user_features (it drops them)")
        if not 0 < self.label_fraction <= 1:
            raise ConfigError(f"label_fraction must be in (0, 1], got {self.label_fraction}")
        if not 0 <= self.validation_percent <= 50:
            raise ConfigError(
                f"validation_percent must be in 0..50, got {self.validation_percent}")
        if self.early_stopping_patience < 0:
            raise ConfigError(
                f"early_stopping_patience must be >= 0, got {self.early_stopping_patience}")
        if self.early_stopping_patience and not self.validation_percent:
            raise ConfigError("early_stopping_patience needs a validation split: set "
                              "validation_percent > 0 (it is carved from train, never eval)")
        if self.retrieval_negatives not in RETRIEVAL_NEGATIVES:
            raise ConfigError(f"retrieval_negatives {self.retrieval_negatives!r} is not one of "
                              f"{RETRIEVAL_NEGATIVES}")
        if self.retrieval_negatives == "catalog" and (self.sampling_bias_correction
                                                      or self.remove_accidental_hits):
            raise ConfigError("retrieval_negatives 'catalog' samples no negatives: "
                              "sampling_bias_correction and remove_accidental_hits correct "
                              "in-batch sampling and do not apply")
        if self.refit and not self.early_stopping_patience:
            raise ConfigError("refit needs early stopping (early_stopping_patience > 0): it "
                              "retrains for the number of epochs early stopping chose")
        if self.early_stopping_monitor not in EARLY_STOPPING_MONITORS:
            raise ConfigError(f"early_stopping_monitor {self.early_stopping_monitor!r} is not "
                              f"one of {tuple(EARLY_STOPPING_MONITORS)}")
        if (self.early_stopping_monitor in ("top_100", names.RMSE_MINUS_TOP_100)
                and 100 not in self.top_ks):
            raise ConfigError(
                f"early_stopping_monitor {self.early_stopping_monitor} needs 100 in top_ks")
        if self.rating_head_epochs < 0:
            raise ConfigError(f"rating_head_epochs must be >= 0, got {self.rating_head_epochs}")
        if self.rating_head_epochs and self.rating_weight == 0:
            raise ConfigError("rating_head_epochs needs rating_weight > 0 (it trains the rating "
                              "head on the rating loss)")
        if self.rating_head_dropout and not self.rating_head_epochs:
            raise ConfigError("rating_head_dropout needs rating_head_epochs > 0 (it is the "
                              "dropout of those epochs)")
        if self.rating_head_learning_rate and not self.rating_head_epochs:
            raise ConfigError("rating_head_learning_rate needs rating_head_epochs > 0 (it is the "
                              "learning rate of those epochs)")
        if self.warm_start_epochs < 0:
            raise ConfigError(f"warm_start_epochs must be >= 0, got {self.warm_start_epochs}")
        for name, why in _NO_WARM_START.items():
            if getattr(self, name) and self.warm_start:
                raise ConfigError(f"{name} cannot warm-start: {why}")
        if self.warm_start_epochs and not self.warm_start:
            raise ConfigError("warm_start_epochs needs warm_start")

    def epochs_to_train(self, warm_started: bool) -> int:
        """`warm_start_epochs` for a model that warm-started (when set), else `epochs`. Fewer
        epochs are not free: on ML-100K's replay one warm epoch did worse than three cold ones,
        three warm ones better in RMSE (docs/continuous_training.md)."""
        return self.warm_start_epochs if warm_started and self.warm_start_epochs else self.epochs

    def side_feature_columns(self) -> Tuple[str, ...]:
        """The transformed side-feature columns this config's model reads."""
        return (((names.MOVIE_GENRE_MASK,) if self.movie_genres else ())
                + (names.USER_FEATURE_INDICES if self.user_features else ())
                + ((names.RATING_TIME_BIN,) if self.uses_time() else ()))

    def uses_time(self) -> bool:
        """Whether the model reads the ratings' time bins (names.RATING_TIME_BIN)."""
        return self.rating_time_bias or self.query_time

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


# Named configs (`--preset` in the runners). `seed` is the TFRS multitask tutorial, exactly.
# `best` was chosen on parts of the train split (the validation carve-out, then a holdout of
# train), never by an eval figure; its joint phase's stopping rule (top_100) was changed after
# an eval look had shown the old rule's late stop (docs/experiments.md, "Which joint epoch").
PRESETS: Dict[str, TrainingConfig] = {
    "seed": TrainingConfig(),
    "best": TrainingConfig(
        optimizer="adam", learning_rate=0.001, embedding_dim=128, train_batch_size=2048,
        epochs=40, rating_biases=True, sampling_bias_correction=True, movie_genres=True,
        title_tokens=True, rating_factors=128, rating_factor_l2=0.1, rating_history=True,
        validation_percent=10, early_stopping_patience=2,
        early_stopping_monitor="top_100", refit=True, weight_averaging=0.99,
        rating_head_epochs=40, rating_layers=(1024, 512), rating_head_dropout=0.2,
        rating_clip=True),
}
