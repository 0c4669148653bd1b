"""Runs preprocessing_fn on real TFT Beam over in-memory rows, as Transform would."""

import os
import tempfile
from typing import Dict, List, Tuple

import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from models.preprocessing import preprocessing_fn


def analyze_and_transform(rows: List[Dict], raw_spec: Dict
                          ) -> Tuple[List[Dict], tft.TFTransformOutput]:
    """(the transformed rows, the Transform output: graph, vocabularies and, as TFX's
    Transform also writes, the raw schema the exported model parses requests with)."""
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    output_dir = tempfile.mkdtemp()
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    metadata_io.write_metadata(
        metadata, os.path.join(output_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return transformed, tft.TFTransformOutput(output_dir)


def as_columns(transformed: List[Dict]) -> Dict[str, tf.Tensor]:
    """The transformed rows as the Trainer holds them: one tensor per feature."""
    return {name: tf.constant([row[name] for row in transformed]) for name in transformed[0]}
