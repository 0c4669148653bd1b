"""AnomaliesGate: stops the run when ExampleValidator found anomalies, listing them, or when
StatisticsGen read another number of examples than ExampleGen wrote.

TFX 1.16's ExampleValidator records anomalies but lets the pipeline go on; Transform is made
to depend on this gate so that bad data never reaches training. StatisticsGen is TFX's own, so
its count (`num_examples` of each split's statistics) is reconciled here, with the record
counts ExampleGen put on the Examples (components/record_counts.py).
"""

import os
from typing import Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies, Examples, ExampleStatistics
from tfx.utils import io_utils

from components import record_counts

# File that ExampleValidator writes per split (tfx.components.example_validator.executor).
ANOMALIES_FILE = "SchemaDiff.pb"


class DataAnomaliesError(RuntimeError):
    """ExampleValidator found anomalies in the input data."""


def describe_anomalies(anomalies: ExampleAnomalies) -> List[str]:
    """One line per anomalous feature and split: `split: feature: description`."""
    lines = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(anomalies.uri, f"Split-{split}", ANOMALIES_FILE)
        found = anomalies_pb2.Anomalies()
        found.ParseFromString(io_utils.read_bytes_file(path))
        for feature, info in sorted(found.anomaly_info.items()):
            lines.append(f"{split}: {feature}: {info.short_description} - {info.description}")
        if found.HasField("dataset_anomaly_info"):
            info = found.dataset_anomaly_info
            lines.append(f"{split}: (dataset): {info.short_description} - {info.description}")
    return lines


def check_anomalies(anomalies: ExampleAnomalies) -> None:
    """Raises DataAnomaliesError listing the anomalies, if there are any."""
    problems = describe_anomalies(anomalies)
    if problems:
        raise DataAnomaliesError(
            "ExampleValidator found anomalies; the run stops before Transform:\n  "
            + "\n  ".join(problems))


def statistics_counts(statistics: ExampleStatistics) -> Dict[str, int]:
    """{split: examples} that StatisticsGen computed its statistics of."""
    from tfx.components.statistics_gen import stats_artifact_utils  # TFDV: seconds to import

    return {split: stats_artifact_utils.load_statistics(statistics, split).proto()
            .datasets[0].num_examples
            for split in artifact_utils.decode_split_names(statistics.split_names)}


@component
def AnomaliesGate(anomalies: InputArtifact[ExampleAnomalies],
                  statistics: InputArtifact[ExampleStatistics],
                  examples: InputArtifact[Examples],
                  code_fingerprint: Parameter[str]) -> None:
    """`statistics` / `examples`: StatisticsGen's output and its input, whose counts must
    agree. `code_fingerprint`: of this module, so that editing it re-runs the gate."""
    del code_fingerprint  # only part of the cache key
    record_counts.check_split_counts("StatisticsGen", statistics_counts(statistics), [examples])
    check_anomalies(anomalies)
