"""DriftGate: stops the run before Transform when a span's data drifted from the previous span's.

ExampleValidator checks one span's statistics against the schema; it is never given a
previous span's, so the schema's drift comparators do nothing there. This gate runs TFDV's
comparison of the current span's statistics with the previous span's and reads TFDV's verdict:
the comparators and their thresholds live in the curated schema (pipeline/schema.pbtxt),
L-infinity distance for the categorical ids, Jensen-Shannon divergence for the rating and the
timestamp. Past a threshold, `mode="stop"` raises DataDriftError naming split, feature,
distance, threshold and spans; `mode="warn"` logs the same and lets the run go on (for data
known to move).

The previous span's statistics: the gate is given every ExampleStatistics of the pipeline in
MLMD (a plain `Channel`) and picks, among those of spans smaller than the current one, the
newest artifact of the largest span (`previous_span_statistics`). Not a Resolver node: when a
resolver fails, TFX's local runner logs the error and goes on, and the gate would then see no
previous statistics and pass (or, given the resolver's output as a required input, be skipped
while Transform runs): the check would silently not happen. Nor TFX's span strategies: they
count spans back from the newest in MLMD, which is not the previous span when an older span is
run again. The first span (and statistics without spans: StatisticsGen writes span 0) has no
previous span: the gate passes and says so.

Output: an ExampleAnomalies artifact in ExampleValidator's layout (`Split-<split>/SchemaDiff.pb`
holding TFDV's drift anomalies and its `drift_skew_info`; the schema's other checks are
ExampleValidator's and are left out), plus `drift.json` with every compared feature's measured
distance and threshold, so a run that passes still shows how close it came. Transform depends
on the gate (`add_upstream_node`), as it depends on AnomaliesGate.
"""

import dataclasses
import json
import logging
import os
from typing import Any, Dict, Iterable, List, Optional

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, writer_utils

from components.anomalies_gate import ANOMALIES_FILE
from components.code_fingerprint import code_fingerprint
from components.span_window import refused_spans
from models.hparams import ConfigError
from names import (
    CODE_FINGERPRINT_KEY,
    DRIFT_FILE,
    DRIFT_MODES,
    DRIFT_OUTPUT,
    DRIFT_PASSED_KEY,
    DRIFT_SUMMARY_KEY,
)

STATISTICS_KEY = standard_component_specs.STATISTICS_KEY  # the current span's
# Every ExampleStatistics of the pipeline (the current span's, earlier and later spans', re-runs);
# may be empty or absent (nothing to compare with).
ALL_STATISTICS_KEY = "all_statistics"
# Every ExampleAnomalies of the pipeline (ExampleValidator's, and this gate's earlier outputs,
# which say which spans passed): a refused span is not compared with.
CHECKS_KEY = "checks"
SCHEMA_KEY = standard_component_specs.SCHEMA_KEY
OUTPUT_KEY = DRIFT_OUTPUT  # "drift": the output, an ExampleAnomalies artifact
MODE_KEY = "mode"
MODES = DRIFT_MODES  # "stop", "warn"
# ExampleValidator's custom property on its anomalies: {split: 1 = nothing found, 0 = found}.
BLESSED_KEY = "blessed"
# On the output: the MLMD id of the statistics compared with (the gate's inputs list them all).
PREVIOUS_STATISTICS_ID_KEY = "previous_statistics_id"

_Type = anomalies_pb2.AnomalyInfo.Type
_Measure = anomalies_pb2.DriftSkewInfo.Measurement.Type
# TFDV's anomaly reasons from comparing two spans, and the measurement each one reports.
_DRIFT_REASONS = {_Type.COMPARATOR_L_INFTY_HIGH: _Measure.L_INFTY,
                  _Type.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH:
                      _Measure.JENSEN_SHANNON_DIVERGENCE,
                  _Type.COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH:
                      _Measure.NORMALIZED_ABSOLUTE_DIFFERENCE,
                  # The comparison could not be made (a side has no statistics of the feature).
                  _Type.COMPARATOR_CONTROL_DATA_MISSING: None,
                  _Type.COMPARATOR_TREATMENT_DATA_MISSING: None}
_MEASURE_NAMES = {_Measure.L_INFTY: "L-infinity distance",
                  _Measure.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon divergence",
                  _Measure.NORMALIZED_ABSOLUTE_DIFFERENCE: "normalized absolute difference"}
# A measure's short name, in drift.json's `features` key of a feature compared more than one way.
_SHORT_NAMES = {"L-infinity distance": "L-inf", "Jensen-Shannon divergence": "JS",
                "normalized absolute difference": "NAD"}


class DataDriftError(RuntimeError):
    """A span's data drifted from the previous span's past the curated schema's thresholds."""


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One comparator's result on one feature of one split."""

    split: str
    feature: str
    measure: str  # e.g. "L-infinity distance"
    value: float
    threshold: float
    drifted: bool  # TFDV's verdict: past the threshold


@dataclasses.dataclass(frozen=True)
class SplitDrift:
    """What comparing one split of two spans found."""

    split: str
    anomalies: anomalies_pb2.Anomalies  # TFDV's drift anomalies only
    measurements: List[Measurement]
    # Drift TFDV reported without a measurement (e.g. a side without the feature): its words.
    unmeasured: List[str]


def previous_span_statistics(current: types.Artifact, candidates: List[types.Artifact],
                             refused: Iterable[int] = ()) -> Optional[types.Artifact]:
    """The newest (largest MLMD id) of `candidates` whose span is the largest below `current`'s
    and not `refused` (span_window.refused_spans: a refused drop is no reference), or None. A
    span run again has several statistics artifacts, one per run that was not cached: the
    newest is what that span's data looked like last."""
    refused = set(refused)
    earlier = [a for a in candidates if a.span < current.span and a.span not in refused]
    if not earlier:
        return None
    return max(earlier, key=lambda a: (a.span, a.id))


def _feature(path) -> str:
    return ".".join(path.step)


def drift_only(anomalies: anomalies_pb2.Anomalies) -> anomalies_pb2.Anomalies:
    """TFDV's anomalies without the schema's other checks (ExampleValidator reports those):
    the features with a drift reason, with only those reasons, and the drift measurements."""
    kept = anomalies_pb2.Anomalies()
    kept.CopyFrom(anomalies)
    kept.ClearField("anomaly_info")
    kept.ClearField("dataset_anomaly_info")
    for feature, info in anomalies.anomaly_info.items():
        reasons = [reason for reason in info.reason if reason.type in _DRIFT_REASONS]
        if not reasons:
            continue
        entry = kept.anomaly_info[feature]
        entry.CopyFrom(info)
        entry.ClearField("diff_regions")
        del entry.reason[:]
        entry.reason.extend(reasons)
        entry.short_description = " ".join(reason.short_description for reason in reasons)
        entry.description = " ".join(reason.description for reason in reasons)
    return kept


def compare_split(split: str, current: statistics_pb2.DatasetFeatureStatisticsList,
                  previous: statistics_pb2.DatasetFeatureStatisticsList,
                  schema: schema_pb2.Schema) -> SplitDrift:
    """TFDV's drift comparison of one split: its anomalies and each comparator's measurement."""
    anomalies = drift_only(tfdv.validate_statistics(current, schema,
                                                    previous_statistics=previous))
    # (feature, measurement type) of each threshold TFDV found crossed.
    crossed = {(feature, _DRIFT_REASONS[reason.type])
               for feature, info in anomalies.anomaly_info.items() for reason in info.reason}
    measurements = [
        Measurement(split=split, feature=_feature(info.path),
                    measure=_MEASURE_NAMES.get(m.type, _Measure.Name(m.type)), value=m.value,
                    threshold=m.threshold, drifted=(_feature(info.path), m.type) in crossed)
        for info in anomalies.drift_skew_info for m in info.drift_measurements]
    measured = {(_feature(info.path), m.type)
                for info in anomalies.drift_skew_info for m in info.drift_measurements}
    unmeasured = [f"drift: {feature}: {reason.description} ({split})"
                  for feature, info in sorted(anomalies.anomaly_info.items())
                  for reason in info.reason
                  if (feature, _DRIFT_REASONS[reason.type]) not in measured]
    return SplitDrift(split=split, anomalies=anomalies, measurements=measurements,
                      unmeasured=unmeasured)


def describe_drift(found: List[SplitDrift], current_span: int, previous_span: int) -> List[str]:
    """One line per drifted feature and split, e.g. `drift: movie_title L-infinity distance
    0.31 > 0.15 between span 3 and span 2 (train)`."""
    lines = [f"drift: {m.feature} {m.measure} {m.value:.3g} > {m.threshold:g} between span "
             f"{current_span} and span {previous_span} ({m.split})"
             for split in found for m in split.measurements if m.drifted]
    return lines + [line for split in found for line in split.unmeasured]


def by_feature(measurements: List[Measurement]) -> Dict[str, Dict[str, Any]]:
    """{feature: {distance, threshold, exceeded, measure, split}}: per feature (and measure,
    when a feature is compared more than one way: `movie_title JS`), the largest distance over
    the splits, and whether any split exceeded the threshold."""
    measures: Dict[str, set] = {}
    for m in measurements:
        measures.setdefault(m.feature, set()).add(m.measure)
    features: Dict[str, Dict[str, Any]] = {}
    for m in measurements:
        key = (m.feature if len(measures[m.feature]) == 1
               else f"{m.feature} {_SHORT_NAMES.get(m.measure, m.measure)}")
        seen = features.get(key)
        if seen is None or m.value > seen["distance"]:
            features[key] = {"distance": m.value, "threshold": m.threshold,
                             "exceeded": m.drifted or bool(seen and seen["exceeded"]),
                             "measure": m.measure, "split": m.split}
        elif m.drifted:
            seen["exceeded"] = True
    return features


def _load_statistics(artifact: types.Artifact, split: str
                     ) -> statistics_pb2.DatasetFeatureStatisticsList:
    return stats_artifact_utils.load_statistics(artifact, split).proto()


def _single(artifacts: Dict[str, List[types.Artifact]], key: str) -> types.Artifact:
    found = artifacts.get(key) or []
    if len(found) != 1:
        raise ValueError(f"DriftGate's {key!r} must be one artifact, got {len(found)}")
    return found[0]


def check_drift(current: types.Artifact, all_statistics: List[types.Artifact],
                schema: schema_pb2.Schema, anomalies: types.Artifact, mode: str,
                checks: Iterable[types.Artifact] = ()) -> List[str]:
    """Compares each split of `current` with the same split of the previous span's statistics
    among `all_statistics`, writes `anomalies` (SchemaDiff.pb per split, drift.json, the
    `blessed` and summary properties) and returns the drift lines; raises DataDriftError on
    drift in stop mode."""
    if mode not in MODES:
        raise ValueError(f"DriftGate's mode must be one of {MODES}, got {mode!r}")
    wrong = [a for a in all_statistics
             if not isinstance(a, standard_artifacts.ExampleStatistics)]
    if wrong:
        raise ValueError(f"DriftGate's {ALL_STATISTICS_KEY!r} must hold ExampleStatistics "
                         f"artifacts, got {wrong[0].type_name}")
    previous = previous_span_statistics(current, all_statistics,
                                        refused_spans(all_statistics, checks))
    splits = artifact_utils.decode_split_names(current.split_names)
    anomalies.split_names = artifact_utils.encode_split_names(splits)
    anomalies.span = current.span
    report: Dict[str, Any] = {"mode": mode, "current_span": current.span,
                              "current_statistics": current.uri, "previous_span": None,
                              "previous_statistics": None, "measurements": [], "drift": []}
    if previous is None:
        found = [SplitDrift(split, anomalies_pb2.Anomalies(), [], []) for split in splits]
        lines: List[str] = []
        summary = (f"span {current.span}: no statistics of an earlier span among the "
                   f"{len(all_statistics)} given (the first span; statistics without spans are "
                   f"all span 0), nothing to compare with: the drift check passes")
    else:
        missing = set(splits) - set(artifact_utils.decode_split_names(previous.split_names))
        if missing:
            raise ValueError(f"the previous span's statistics ({previous.uri}, span "
                             f"{previous.span}) have no split {sorted(missing)}: the current "
                             f"span's splits {splits} cannot be compared with them")
        found = [compare_split(split, _load_statistics(current, split),
                               _load_statistics(previous, split), schema) for split in splits]
        lines = describe_drift(found, current.span, previous.span)
        report.update(previous_span=previous.span, previous_statistics=previous.uri,
                      previous_statistics_id=previous.id)
        anomalies.set_int_custom_property(PREVIOUS_STATISTICS_ID_KEY, previous.id)
        compared = sorted({m.feature for split in found for m in split.measurements})
        summary = (f"span {current.span} against span {previous.span}: "
                   + (f"drift in {len(lines)} comparison(s): " + "; ".join(lines) if lines
                      else f"no drift past the thresholds ({', '.join(compared) or 'nothing'} "
                           f"compared)"))
    for split in found:
        writer_utils.write_anomalies(
            os.path.join(artifact_utils.get_split_uri([anomalies], split.split), ANOMALIES_FILE),
            split.anomalies)
    measured = [m for split in found for m in split.measurements]
    report.update(features=by_feature(measured),
                  measurements=[dataclasses.asdict(m) for m in measured])
    report.update(drift=lines, summary=summary)
    io_utils.write_string_file(os.path.join(anomalies.uri, DRIFT_FILE),
                               json.dumps(report, indent=2))
    anomalies.set_json_value_custom_property(
        BLESSED_KEY, {split.split: int(not split.anomalies.anomaly_info) for split in found})
    anomalies.set_string_custom_property(DRIFT_SUMMARY_KEY, summary)
    if lines and mode == "stop":
        raise DataDriftError(
            "the data drifted from the previous span's past the curated schema's thresholds; "
            "the run stops before Transform (DriftGate's mode 'warn' only logs):\n  "
            + "\n  ".join(lines))
    anomalies.set_int_custom_property(DRIFT_PASSED_KEY, 1)  # published only when it passes
    if lines:
        logging.warning("DriftGate (warn mode, the run goes on): %s", "; ".join(lines))
    else:
        logging.info("DriftGate: %s", summary)
    return lines


class DriftGateSpec(types.ComponentSpec):
    PARAMETERS = {MODE_KEY: ExecutionParameter(type=str),
                  CODE_FINGERPRINT_KEY: ExecutionParameter(type=str)}
    INPUTS = {STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
              ALL_STATISTICS_KEY: ChannelParameter(
                  type=standard_artifacts.ExampleStatistics, optional=True),
              CHECKS_KEY: ChannelParameter(
                  type=standard_artifacts.ExampleAnomalies, optional=True),
              SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema)}
    OUTPUTS = {OUTPUT_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies)}


class DriftGateExecutor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        schema_artifact = _single(input_dict, SCHEMA_KEY)
        schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_artifact.uri))
        check_drift(_single(input_dict, STATISTICS_KEY), input_dict.get(ALL_STATISTICS_KEY) or [],
                    schema, _single(output_dict, OUTPUT_KEY), exec_properties[MODE_KEY],
                    input_dict.get(CHECKS_KEY) or [])


def every_check() -> types.Channel:
    """Every ExampleAnomalies in MLMD of the pipeline: ExampleValidator's and this gate's
    (whose `names.DRIFT_PASSED_KEY` says which spans passed)."""
    return types.Channel(type=standard_artifacts.ExampleAnomalies)


def every_statistics() -> types.Channel:
    """Every ExampleStatistics in MLMD of the pipeline this is an input of (TFX queries a plain
    Channel within the pipeline's context; only its StatisticsGen writes statistics)."""
    return types.Channel(type=standard_artifacts.ExampleStatistics)


class DriftGate(base_component.BaseComponent):
    SPEC_CLASS = DriftGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(DriftGateExecutor)

    def __init__(self, statistics: types.BaseChannel, schema: types.BaseChannel,
                 all_statistics: Optional[types.BaseChannel] = None,
                 checks: Optional[types.BaseChannel] = None,
                 mode: str = "stop") -> None:
        """`statistics`: StatisticsGen's, of the span being run; `all_statistics`: every
        statistics artifact of the pipeline (`every_statistics()`), among which the gate finds
        the previous span's (None: nothing to compare, the gate passes and says so; a plain
        Channel does not compile for Kubeflow Pipelines v2, where the gate could only ever
        pass); `checks`: every ExampleAnomalies (`every_check()`), whose gate outputs say
        which spans were refused (never compared with); `schema`: the curated schema with the
        drift comparators; `mode`: "stop" raises on drift, "warn" only logs it."""
        if mode not in MODES:
            raise ConfigError(f"DriftGate's mode must be one of {MODES}, got {mode!r}")
        super().__init__(spec=DriftGateSpec(
            statistics=statistics, all_statistics=all_statistics, checks=checks, schema=schema,
            mode=mode, code_fingerprint=code_fingerprint([__name__]),
            **{OUTPUT_KEY: types.Channel(type=standard_artifacts.ExampleAnomalies)}))
