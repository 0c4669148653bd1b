"""Warm start: a new model begins from the base model's trained weights, row by id.

Continuous training retrains on a newer window of ratings, whose Transform vocabularies differ
from the base model's: ids come and go, and TFT orders a vocabulary by frequency, so an id the
two share may sit at another index. A row is therefore carried by its id string, never by its
index. What the new model takes from the base model:
- for each variable with one row per id (MovieLensModel.id_keyed_variables: the towers'
  embedding tables, the rating head's biases), the row of every id both vocabularies hold. Ids
  new to this window keep the new model's fresh (seeded) rows; rows of ids gone from it are
  left behind. With user_features, the embeddings of the age buckets, occupations and zip
  prefixes are carried the same way, by value in their own vocabularies (which TFT orders by
  frequency too); gender's has fixed indices and is copied as it is.
- the OOV row goes to the OOV row. Neither model trains it (Transform's vocabularies hold every
  id of the train and eval splits, so no training example maps to it): it is initializer
  values either way, and carrying it keeps what an unknown id gets the same from one model
  version to the next.
- every other variable of the trained layers (the rating head's MLP), as it is.
Not carried: the optimizer's state (the SavedModel holds none; the optimizer starts afresh),
the rating mean of `rating_biases`, a constant computed from the new window, and the users'
title histories of `rating_history` and feature table of `user_features`
(MovieLensModel.run_data_variables), built from it too.

The base model is read with TensorFlow alone, from the SavedModel's checkpoint (`variables/`),
without loading its graph: the object graph stored there gives the checkpoint key of each
variable by the attribute path it has in the new model (rating_head/mlp/layer_with_weights-0/
kernel), and holds the vocabularies the export saved (models/export.py VOCABULARY_VARIABLES).

All or nothing: every variable is checked before any is written. A base model that cannot
initialize this model (none on a first run, not a SavedModel, no user vocabulary because it
was exported before warm starts existed, or a layer whose shape differs in more than the
vocabulary dimension, e.g. after a change of embedding_dim or rating_layers) makes `initialize`
start cold with a logged warning that says why, and the report says so too (run_fn writes it
to names.WARM_START_FILE): a config change must not fail the continuous pipeline.
"""

import dataclasses
import logging
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

import names
from models.export import TRAINED_LAYERS, VOCABULARY_VARIABLES
from models.hparams import TrainingConfig
from models.model import MovieLensModel

_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"  # the checkpoint's object graph proto
_VALUE_ATTRIBUTE = "VARIABLE_VALUE"
# Children a SavedModel adds to each Keras layer: other paths to the same variables, which
# would name them by position (rating_head/variables/0) in messages.
_KERAS_ALIASES = frozenset({"variables", "trainable_variables", "non_trainable_variables",
                            "regularization_losses", "keras_api"})


class WarmStartError(ValueError):
    """The base model cannot initialize the new model; the message says why."""


@dataclasses.dataclass(frozen=True)
class RowCounts:
    """One vocabulary's rows in a warm start."""

    carried: int  # ids in both vocabularies: their trained rows
    new: int  # ids only in the new vocabulary: fresh rows
    dropped: int  # ids only in the base model's: rows left behind


@dataclasses.dataclass(frozen=True)
class WarmStartReport:
    """Whether the model warm-started, from which base model, and with what."""

    warm_started: bool
    base_model: Optional[str]
    reason: str = ""  # why it started cold ("" when it warm-started)
    rows: Dict[str, RowCounts] = dataclasses.field(default_factory=dict)  # by vocabulary name
    copied: Tuple[str, ...] = ()  # the variables copied as they are (paths in the model)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WarmStartSource:
    """What a warm start reads: the base model, and the new model's vocabularies."""

    base_model: Optional[str]  # the base SavedModel's folder (FnArgs.base_model); None: none
    vocabularies: Mapping[str, Sequence[bytes]]  # the new model's, by vocabulary name


def vocabulary_names(config: TrainingConfig) -> Tuple[str, ...]:
    """The vocabularies whose ids a model of `config` keys rows by: what
    WarmStartSource.vocabularies holds for it (MovieLensModel.id_keyed_variables' keys)."""
    features = (tuple(names.USER_FEATURE_VOCABULARIES[feature]
                      for feature in names.USER_FEATURE_INDICES
                      if feature in names.USER_FEATURE_VOCABULARIES)
                if config.user_features else ())
    return (names.USER_VOCABULARY, names.MOVIE_VOCABULARY) + features


def row_sources(old_ids: Sequence[bytes], new_ids: Sequence[bytes]) -> np.ndarray:
    """[len(new_ids) + NUM_OOV_BUCKETS] int64: the base table's row each row of the new table
    starts from, -1 for a fresh row. Ids match by value, whatever their indices; the OOV
    rows follow their vocabularies in both tables."""
    old_row = {id_: row for row, id_ in enumerate(old_ids)}
    known = [old_row.get(id_, -1) for id_ in new_ids]
    oov = [len(old_ids) + bucket for bucket in range(names.NUM_OOV_BUCKETS)]
    return np.array(known + oov, dtype=np.int64)


class _BaseModel:
    """The base SavedModel's checkpoint: variables by their object path, no graph loaded."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        prefix = os.path.join(directory, tf.saved_model.VARIABLES_DIRECTORY,
                              tf.saved_model.VARIABLES_FILENAME)
        try:
            self._reader = tf.train.load_checkpoint(prefix)
            graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
                self._reader.get_tensor(_OBJECT_GRAPH_KEY))
        except (tf.errors.OpError, ValueError) as error:
            raise WarmStartError(f"no SavedModel variables at {prefix}: {error}") from None
        self._nodes = graph.nodes
        self._shapes = self._reader.get_variable_to_shape_map()

    def _node(self, path: Sequence[str]) -> Optional[int]:
        node = 0  # the root: the exported ServingModule
        for name in path:
            children = {child.local_name: child.node_id for child in self._nodes[node].children}
            if name not in children:
                return None
            node = children[name]
        return node

    def _key_of(self, node: int) -> Optional[str]:
        return next((attribute.checkpoint_key for attribute in self._nodes[node].attributes
                     if attribute.name == _VALUE_ATTRIBUTE), None)

    def key(self, path: Sequence[str]) -> Optional[str]:
        """The checkpoint key of the variable at `path`, or None if there is none."""
        node = self._node(path)
        return None if node is None else self._key_of(node)

    def shape(self, key: str) -> List[int]:
        return list(self._shapes[key])

    def read(self, key: str) -> np.ndarray:
        return self._reader.get_tensor(key)

    def variables_under(self, layer: str) -> Dict[str, str]:
        """Checkpoint key → path of every variable of `layer` (its shortest path)."""
        root = self._node([layer])
        if root is None:
            return {}
        found: Dict[str, str] = {}
        queue, seen = [(root, layer)], {root}
        while queue:
            node, path = queue.pop(0)
            key = self._key_of(node)
            if key is not None:
                found.setdefault(key, path)
            for child in self._nodes[node].children:
                if child.local_name not in _KERAS_ALIASES and child.node_id not in seen:
                    seen.add(child.node_id)
                    queue.append((child.node_id, f"{path}/{child.local_name}"))
        return found

    def vocabulary(self, name: str) -> List[bytes]:
        """The vocabulary `name` the base model's rows are indexed by."""
        key = self.key([VOCABULARY_VARIABLES[name]])
        if key is None:
            raise WarmStartError(
                f"the base model {self.directory} holds no {name} (no "
                f"`{VOCABULARY_VARIABLES[name]}` variable: exported before warm starts read it)")
        return [bytes(id_) for id_ in self.read(key)]


def _layer_variables(layer: tf.Module, name: str) -> Dict[Tuple[str, ...], tf.Variable]:
    """Path (from the model's attribute `name`) → variable, each variable once, by the same
    attribute names a checkpoint of the layer uses."""
    found: Dict[Tuple[str, ...], tf.Variable] = {}
    seen_variables, seen_objects = set(), {id(layer)}
    queue: List[Tuple[Tuple[str, ...], object]] = [((name,), layer)]
    while queue:  # breadth first: each variable by its shortest path
        path, trackable = queue.pop(0)
        for child_name, child in tf.train.TrackableView(trackable).children(trackable).items():
            if isinstance(child, tf.Variable):
                if child.ref() not in seen_variables:
                    seen_variables.add(child.ref())
                    found[path + (child_name,)] = child
            elif id(child) not in seen_objects:
                seen_objects.add(id(child))
                queue.append((path + (child_name,), child))
    return found


@dataclasses.dataclass(frozen=True)
class _Copy:
    variable: tf.Variable
    path: str
    key: str  # in the base model's checkpoint
    vocabulary: Optional[str]  # rows mapped by this vocabulary's ids; None: copied whole


def _plan(model: MovieLensModel, base: _BaseModel) -> Tuple[List[_Copy], Dict[str, List[bytes]]]:
    """What to copy from where, and the base model's vocabularies; WarmStartError naming
    every variable whose shape or presence differs beyond the vocabularies' sizes."""
    keyed = {variable.ref(): vocabulary
             for vocabulary, variables in model.id_keyed_variables().items()
             for variable in variables}
    old_vocabularies = {vocabulary: base.vocabulary(vocabulary)
                        for vocabulary in sorted(set(keyed.values()))}
    run_data = {variable.ref() for variable in model.run_data_variables()}
    copies, problems = [], []
    for layer in TRAINED_LAYERS:
        used = set()
        for path, variable in _layer_variables(getattr(model, layer), layer).items():
            name, new_shape = "/".join(path), variable.shape.as_list()
            key = base.key(path)
            if key is None:
                problems.append(f"{name}: not in the base model (new model: {new_shape})")
                continue
            used.add(key)
            if variable.ref() in run_data:  # this run's data (its shape may differ): kept
                continue
            old_shape, vocabulary = base.shape(key), keyed.get(variable.ref())
            if vocabulary is None:
                fits = old_shape == new_shape
            else:  # rows may differ in number, with the vocabulary; the rest may not
                rows = len(old_vocabularies[vocabulary]) + names.NUM_OOV_BUCKETS
                fits = old_shape[1:] == new_shape[1:] and old_shape[0] == rows
            if not fits:
                problems.append(f"{name}: base model {old_shape}, new model {new_shape}")
            copies.append(_Copy(variable, name, key, vocabulary))
        for key, path in base.variables_under(layer).items():
            if key not in used:
                problems.append(f"{path}: only in the base model ({base.shape(key)})")
    if problems:
        raise WarmStartError(f"the base model {base.directory} does not fit this model's layers "
                             f"beyond the vocabularies: " + "; ".join(problems))
    return copies, old_vocabularies


def warm_start(model: MovieLensModel, base_model: str,
               vocabularies: Mapping[str, Sequence[bytes]]) -> WarmStartReport:
    """Sets `model`'s trained layers from the SavedModel in `base_model` (see the module
    docstring); `vocabularies` are the new model's. Raises WarmStartError, having changed
    nothing, when the base model cannot initialize this model."""
    missing = sorted(set(model.id_keyed_variables()) - set(vocabularies))
    if missing:  # a caller's mistake, not the base model's: no cold start hides it
        raise ValueError(f"warm start: the new model's vocabularies lack {missing} (give "
                         f"those of warm_start.vocabulary_names(config))")
    base = _BaseModel(base_model)
    copies, old_vocabularies = _plan(model, base)
    sources = {name: row_sources(old, vocabularies[name])
               for name, old in old_vocabularies.items()}
    for copy in copies:
        old = base.read(copy.key)
        if copy.vocabulary is None:
            copy.variable.assign(old)
            continue
        values = copy.variable.numpy()
        source = sources[copy.vocabulary]
        carried = source >= 0
        values[carried] = old[source[carried]]
        copy.variable.assign(values)
    rows = {}
    for name, old in old_vocabularies.items():
        carried = int(np.sum(sources[name][:len(vocabularies[name])] >= 0))
        rows[name] = RowCounts(carried=carried, new=len(vocabularies[name]) - carried,
                               dropped=len(old) - carried)
    return WarmStartReport(warm_started=True, base_model=base_model, rows=rows,
                           copied=tuple(copy.path for copy in copies if copy.vocabulary is None))


def initialize(model: MovieLensModel, source: Optional[WarmStartSource]) -> WarmStartReport:
    """Warm-starts `model` from `source` if it can; otherwise leaves it as built (a cold
    start) and logs why. Never fails for the base model's sake (see the module docstring)."""
    base_model = source.base_model if source is not None else None
    if base_model is None:
        logging.info("Warm start: no base model (a first run?), starting cold")
        return WarmStartReport(warm_started=False, base_model=None, reason="no base model")
    try:
        report = warm_start(model, base_model, source.vocabularies)
    except WarmStartError as error:
        logging.warning("Warm start impossible, starting cold: %s", error)
        return WarmStartReport(warm_started=False, base_model=base_model, reason=str(error))
    logging.info("Warm start from %s: rows %s; copied as they are: %s", base_model,
                 report.rows, report.copied)
    return report
