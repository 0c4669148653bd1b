"""The one place that names every feature, signature, request key, metric and file we share.

ExampleGen writes the raw feature names, Transform's graph maps them to the transformed ones,
the Trainer trains on those, the exported signatures answer to the request keys, the Evaluator and
the run summary report the metric keys, and the serving client sends requests with them. This
module imports nothing (no TensorFlow, nothing of ours), so every layer, the client included,
can import it.
"""

import os

# The project's root folder: where files that ship with the code (the curated schema) live.
PROJECT_ROOT = os.path.dirname(os.path.abspath(__file__))

# What TensorFlow reads once, when it is first imported: set before anything imports it, in
# every process of ours (bootstrap.py, the tests, the pipeline image, Vertex's workers; a
# value the user set wins).
TF_ENVIRONMENT = {
    # TFRS needs Keras 2 (the tf_keras package), not Keras 3.
    "TF_USE_LEGACY_KERAS": "1",
    # oneDNN's kernels: TensorFlow enables them by default only on CPUs with AVX-512 VNNI or
    # newer. On AVX2 machines like ours the [8192 x 8192] matmuls of the in-batch softmax run
    # 2-3x faster with them, the whole training step 2x (docs/benchmarks.md).
    "TF_ENABLE_ONEDNN_OPTS": "1",
}

# The model's name under TF Serving (its model base folder is <serving>/<MODEL_NAME>/<version>).
MODEL_NAME = "movielens"

# --- Raw features written by MovieLensExampleGen (TFDS `movielens/*-ratings` names) ---------
USER_ID = "user_id"  # string, e.g. "42"
MOVIE_TITLE = "movie_title"  # string, e.g. "Dances with Wolves (1990)"
USER_RATING = "user_rating"  # float, 1..5 stars
TIMESTAMP = "timestamp"  # int, seconds since the epoch
MOVIE_ID = "movie_id"  # string
MOVIE_GENRES = "movie_genres"  # int list, TFDS genre indices (0 = unknown ... 18 = Western)
USER_GENDER = "user_gender"  # int, 1 = male, 0 = female (TFDS: bool)
BUCKETIZED_USER_AGE = "bucketized_user_age"  # float, lower bound of the ML-1M age bucket
USER_OCCUPATION_TEXT = "user_occupation_text"  # string
USER_ZIP_CODE = "user_zip_code"  # string
# The user side features: only sources with a user file (GroupLens 100k and 1m, TFDS) have them.
USER_SIDE_FEATURES = (USER_GENDER, BUCKETIZED_USER_AGE, USER_OCCUPATION_TEXT, USER_ZIP_CODE)

# --- Transformed features (outputs of preprocessing_fn) --------------------------------------
USER_INDEX = "user_index"  # int64 [B], 0..num_users-1, num_users = OOV
MOVIE_INDEX = "movie_index"  # int64 [B], 0..num_movies-1, num_movies = OOV
RATING_LABEL = "rating_label"  # float32 [B], 0 where the rating is missing
RATING_MASK = "rating_mask"  # float32 [B]: 1 = rated, 0 = unrated (no rating loss, retrieval)
# Side features (TrainingConfig's user_features / movie_genres levers). Written only when the
# raw features exist: sources without a user file have no user side features.
MOVIE_GENRE_MASK = "movie_genre_mask"  # int64 [B]: bit g set = genre g (movielens GENRES)
NUM_GENRES = 21  # len(movielens.grouplens.GENRES): movie_genres values are 0..NUM_GENRES-1
USER_GENDER_INDEX = "user_gender_index"  # int64 [B]: 0 female, 1 male, 2 unknown (OOV)
USER_AGE_INDEX = "user_age_index"  # int64 [B]: index in the age-bucket vocabulary, OOV after
USER_OCCUPATION_INDEX = "user_occupation_index"  # int64 [B], occupation vocabulary
USER_ZIP_INDEX = "user_zip_index"  # int64 [B], vocabulary of the zip code's first 2 characters
# The user tower's side features, in the order of its feature table's columns.
USER_FEATURE_INDICES = (USER_GENDER_INDEX, USER_AGE_INDEX, USER_OCCUPATION_INDEX,
                        USER_ZIP_INDEX)
# The rating's time (TrainingConfig's rating_time_bias and query_time): its bin among NUM_TIME_BINS
# equal spans between the earliest and the latest timestamp Transform analyzed. A time after
# the latest is in the last bin, one before the earliest in the first; an absent timestamp
# (a serving request without one) is "now", the last bin.
RATING_TIME_BIN = "rating_time_bin"  # int64 [B], 0..NUM_TIME_BINS-1
NUM_TIME_BINS = 30  # ML-100K's 7 months: a week each; 25M's 24 years: ~10 months each
NOW_TIME_BIN = NUM_TIME_BINS - 1  # the bin of a time later than the data's, or of none
# The rating's own time, seconds since the epoch (-1: none): what the evaluation orders a new
# user's eval ratings by (their first ones are the fold-in history) and recent popularity reads.
RATING_TIMESTAMP = "rating_timestamp"  # int64 [B]
# A user's history (TrainingConfig.history_fold_in): the titles they rated, as catalog indices,
# num_movies (the OOV title) padding a row. The user tower pools them; a request for a user
# the model never trained brings them (recommend_for_history).
USER_HISTORY = "user_history"  # int64 [B, H]
# Training only: whose history an example reads (its user, before an id dropout hid them) and
# what share of it (a seeded hash of the pair, in (0, 1]).
HISTORY_USER_INDEX = "history_user_index"  # int64 [B]
HISTORY_SHARE = "history_share"  # float32 [B]
# The strong-generalization protocol's fold-in: a new user's first eval ratings, in time
# order, are their history; the rest are what they are evaluated on. Training shows
# id-dropped examples this many history titles at most, as such a user has.
FOLD_IN_RATINGS = 5
NUM_GENDERS = 2  # user_gender_index values below this are genders, the rest unknown
ZIP_PREFIX_LENGTH = 2  # US zip codes' first two digits: a region (of ~100) of the country

# TFT vocabulary names (files in the transform graph's assets).
USER_VOCABULARY = "user_id_vocabulary"
MOVIE_VOCABULARY = "movie_title_vocabulary"
AGE_VOCABULARY = "user_age_vocabulary"
OCCUPATION_VOCABULARY = "user_occupation_vocabulary"
ZIP_PREFIX_VOCABULARY = "user_zip_prefix_vocabulary"
# The user side features sized by a vocabulary (gender is sized by NUM_GENDERS).
USER_FEATURE_VOCABULARIES = {USER_AGE_INDEX: AGE_VOCABULARY,
                             USER_OCCUPATION_INDEX: OCCUPATION_VOCABULARY,
                             USER_ZIP_INDEX: ZIP_PREFIX_VOCABULARY}
NUM_OOV_BUCKETS = 1  # TFT puts OOV buckets after the vocabulary: index == vocabulary size.

# --- Signatures of the exported model ---------------------------------------------------------
SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
PREDICT_SIGNATURE = "predict"
RECOMMEND_SIGNATURE = "recommend"
RECOMMEND_EXCLUDING_SIGNATURE = "recommend_excluding"
RECOMMEND_RANKED_SIGNATURE = "recommend_ranked"  # retrieve, then order by the rating head
SIMILAR_SIGNATURE = "similar_movies"
# A user the model never trained, from the titles they rated (TrainingConfig.history_fold_in)
RECOMMEND_FOR_HISTORY_SIGNATURE = "recommend_for_history"
EVAL_SIGNATURE = "evaluate_examples"  # what TFMA runs: a few numbers per example, not a vector
RAW_ID_SIGNATURES = (PREDICT_SIGNATURE, RECOMMEND_SIGNATURE, RECOMMEND_EXCLUDING_SIGNATURE,
                     RECOMMEND_RANKED_SIGNATURE,
                     SIMILAR_SIGNATURE)
# TF Serving replays this file of PredictionLogs when it loads a model version.
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"

# Output keys of `serving_default` and `evaluate_examples` (TFMA's output_names).
RATING_OUTPUT = "rating"  # float32 [B, 1]
# serving_default: float32 [B, num_movies], one score per catalog title;
# evaluate_examples: float32 [B], the example's own title's rank (0 = best) in the catalog.
RETRIEVAL_OUTPUT = "retrieval"

# Inputs and outputs of the raw-id signatures (TF Serving request/response keys).
K_INPUT = "k"  # int32 scalar
EXCLUDE_INPUT = "exclude_titles"  # string [B, N], "" = padding
HISTORY_INPUT = "rated_titles"  # string [B, N], "" = padding: recommend_for_history's history
TITLES_KNOWN = "titles_known"  # int32 [B]: how many of a row's rated titles the catalog holds
PREDICTED_RATING = "rating"  # float32 [B]
USER_EMBEDDING = "user_embedding"  # float32 [B, dim]
MOVIE_EMBEDDING = "movie_embedding"  # float32 [B, dim]
TITLES_OUTPUT = "titles"  # string [B, k]
SCORES_OUTPUT = "scores"  # float32 [B, k]
USER_KNOWN = "user_known"  # bool [B]: False = not in the vocabulary (OOV embedding used)
MOVIE_KNOWN = "movie_known"  # bool [B]

# --- Metrics ------------------------------------------------------------------------------------
# Keras's names (the model's logs; validation logs add "val_").
RMSE_METRIC = "root_mean_squared_error"
TOP_K_PREFIX = "factorized_top_k/"  # TFRS FactorizedTopK's prefix


def top_k_metric(k: int) -> str:
    """Top-K accuracy over the catalog, as TFMA names it (FactorizedTopK's name, no prefix)."""
    return f"top_{k}_categorical_accuracy"


def keras_top_k_metric(k: int) -> str:
    """The same metric as Keras logs it (TFRS's FactorizedTopK)."""
    return f"{TOP_K_PREFIX}{top_k_metric(k)}"


TOP_100_METRIC = keras_top_k_metric(100)
# Validation RMSE − validation top-100 accuracy: the Tuner's objective and an early-stopping
# monitor (lower is better; a point of either metric counts the same).
RMSE_MINUS_TOP_100 = "rmse_minus_top_100"


def tfma_metric_key(output_name: str, metric_name: str) -> str:
    """A metric of the Evaluator's overall slice, as the run summary keys it."""
    return f"{output_name}/{metric_name}"


TFMA_RMSE = tfma_metric_key(RATING_OUTPUT, RMSE_METRIC)


def tfma_top_k(k: int) -> str:
    return tfma_metric_key(RETRIEVAL_OUTPUT, top_k_metric(k))


def recall_metric(k: int) -> str:
    """Per-user Recall@K (rated titles removed), as the Trainer writes it."""
    return f"recall_at_{k}"


def ndcg_metric(k: int) -> str:
    """Per-user NDCG@K, binary relevance (rated titles removed)."""
    return f"ndcg_at_{k}"


def map_metric(k: int) -> str:
    """Per-user average precision in the top K, averaged over users (MAP@K)."""
    return f"map_at_{k}"


def mrr_metric(k: int) -> str:
    """Mean reciprocal rank of each user's first relevant title within the top K."""
    return f"mrr_at_{k}"


def graded_ndcg_metric(k: int) -> str:
    """Per-user NDCG@K with the eval rating as each title's gain (rated titles removed)."""
    return f"graded_ndcg_at_{k}"


def reranked_metric(name: str) -> str:
    """A metric of the retrieve-then-rank order (models/rerank.py) rather than retrieval's."""
    return f"{name}_reranked"


def coverage_metric(k: int) -> str:
    """Share of catalog titles in some eval user's top K."""
    return f"coverage_at_{k}"


def novelty_metric(k: int) -> str:
    """Mean self-information (bits) of the titles in eval users' top K."""
    return f"novelty_at_{k}"


RANKED_USERS = "ranked_users"  # how many eval users the ranking metrics average over

# --- Files the Trainer writes next to its TensorBoard logs (the ModelRun artifact) ------------
TRAINING_CONFIG_FILE = "training_config.json"  # the config that trained, overrides included
TRAINING_LOG_FILE = "training_log.json"  # epochs, early stopping, validation history
# In its history: the epochs of the rating head alone (TrainingConfig.rating_head_epochs),
# after the joint ones, under names with this prefix.
RATING_HEAD_HISTORY_PREFIX = "rating_head_"
KERAS_METRICS_FILE = "keras_eval_metrics.json"  # Keras's own metrics on the eval split
TRAINER_PHASES_FILE = "trainer_phases.json"  # seconds and peak RSS of each Trainer phase
# Whether the model started from the base model (and from which), or why it started cold.
WARM_START_FILE = "warm_start.json"
# Per-user ranking metrics (models/evaluation.py), rated titles removed: the model's, and the
# popularity baseline's by the same code.
RANKING_METRICS_FILE = "user_ranking_metrics.json"
POPULARITY_METRICS_FILE = "popularity_ranking_metrics.json"
# The same metrics for each group of eval users (models/evaluation.py::user_groups): known
# users (with train ratings) and new ones (none: the model never trained their row).
RANKING_BY_USER_GROUP_FILE = "ranking_by_user_group.json"
KNOWN_USERS, NEW_USERS = "known_users", "new_users"
NEW_COLD_USERS = "new_users_without_history"  # too few eval ratings to give a fold-in
USER_GROUPS = (KNOWN_USERS, NEW_USERS, NEW_COLD_USERS)
# Who ranks, in RANKING_BY_USER_GROUP_FILE: the model and two baselines scored by its code.
MODEL_RANKER, POPULARITY_RANKER = "model", "popularity"
RECENT_POPULARITY_RANKER = "recent_popularity"  # the last 10 % of the train period
RANKERS = (MODEL_RANKER, POPULARITY_RANKER, RECENT_POPULARITY_RANKER)

# --- Pipeline node ids and properties that the run summary reads back from MLMD --------------
EXAMPLE_GEN_ID = "MovieLensExampleGen"
SCHEMA_GEN_ID = "SchemaGen"
BASELINE_RESOLVER_ID = "baseline_model_resolver"
TRANSFORM_ID = "Transform"  # TFX's default id for its Transform
TRAINER_ID = "Trainer"  # TFX's default id for its Trainer
# With a drops folder of spans: the Examples of every span up to the run's (Transform's), and
# of the last `window` spans (the Trainer's).
SPAN_HISTORY_RESOLVER_ID = "span_history_resolver"
SPAN_WINDOW_RESOLVER_ID = "span_window_resolver"
WARM_START_RESOLVER_ID = "warm_start_model_resolver"
EVALUATOR_ID = "Evaluator"
PUSHER_ID = "Pusher"
# The drift gate (components/drift_gate.py): its ExampleAnomalies output, in which drift.json
# holds per feature the distance, threshold and whether it was exceeded; what it found, in one
# line, as a custom property of that artifact; what it does past a threshold (stop the run
# before Transform, or log and go on; here so that the config checks a mode without TFDV).
DRIFT_GATE_ID = "DriftGate"
DRIFT_OUTPUT = "drift"
DRIFT_FILE = "drift.json"
DRIFT_SUMMARY_KEY = "drift_summary"
DRIFT_MODES = ("stop", "warn")
# On DriftGate's output: 1 = the span passed both gates (AnomaliesGate, then DriftGate). A span
# with statistics but no such output was refused: later windows and drift checks skip it.
DRIFT_PASSED_KEY = "span_passed_gates"
ALREADY_SERVING_KEY = "already_serving_version"  # on a PushedModel that was not pushed again
PUSHED_MODEL_ID_KEY = "model_id"  # on a PushedModel: the MLMD id of the Model it pushed
LOAD_CHECK_ERROR_KEY = "load_check_error"  # on an InfraBlessing: why the model did not load
# On a ModelBlessing: the pipeline that blessed it (Kubeflow's baseline query filters on it).
BLESSING_PIPELINE_KEY = "pipeline_name"
# On a ModelBlessing: why GatedEvaluator withdrew TFMA's blessing (the NDCG@10 threshold).
RANKING_GATE_KEY = "ranking_gate"
# On an Examples artifact: the input_base ExampleGen read (for a drops folder, the folder of
# spans), so that a window of spans never mixes two sources' spans of one number.
EXAMPLES_INPUT_BASE_KEY = "input_base"
# The execution property (or custom_config key) holding a component's code fingerprint.
CODE_FINGERPRINT_KEY = "code_fingerprint"
# On an Examples artifact: what ExampleGen read, dropped and wrote, as JSON
# (components/record_counts.py); every later stage checks what it consumed against it.
RECORD_COUNTS_KEY = "record_counts"
# In the Trainer's custom_config at run time: {split: rows} its input artifacts recorded.
EXPECTED_ROWS_KEY = "expected_rows"
# Transform's vocabulary of one token, with its frequency: how many examples it analyzed.
ANALYZED_EXAMPLES_VOCABULARY = "analyzed_examples"
ANALYZED_EXAMPLES_TOKEN = "example"
