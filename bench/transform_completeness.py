"""Does Transform's analysis see every example? Its vocabularies against the examples' own ids.

    python bench/transform_completeness.py \\
        --examples <pipeline_root>/MovieLensExampleGen/examples/N --executor ours \\
        --beam-mode in_memory --workers 1 --out /tmp/transform-check

Runs the pipeline's Transform (its preprocessing_fn, the curated schema, train and eval
analyzed, nothing materialized) on an ExampleGen output in this process, with TFX's executor
(`tfx`: a dataset per split, flattened by TFT) or the pipeline's (`ours`: one read of both
splits), on the DirectRunner mode given; then reads the examples' user ids and titles with
tf.data and prints how many of each the vocabularies lack. Every one should be there: the
vocabularies are built from these examples. At 10M ratings the multi-process DirectRunner
left users out (docs/benchmarks.md, "Transform at 10M"); that is why the pipeline runs Transform
in one in-memory process.
"""

import argparse
import json
import os
import shutil
import sys
import time
from typing import Dict, Sequence, Set

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow as tf  # noqa: E402

import names  # noqa: E402


def _ids(examples_uri: str, features: Sequence[str]) -> Dict[str, Set[bytes]]:
    """Each feature's distinct values in the examples, from one pass over them."""
    files = tf.io.gfile.glob(os.path.join(examples_uri, "Split-*", "*"))
    spec = {feature: tf.io.FixedLenFeature([], tf.string) for feature in features}
    batches = (tf.data.TFRecordDataset(files, compression_type="GZIP").batch(65_536)
               .map(lambda records: tf.io.parse_example(records, spec)))
    ids: Dict[str, Set[bytes]] = {feature: set() for feature in features}
    for batch in batches:
        for feature, values in batch.items():
            ids[feature].update(values.numpy().tolist())
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", required=True, help="an ExampleGen Examples artifact")
    parser.add_argument("--executor", choices=("ours", "tfx"), default="ours")
    parser.add_argument("--beam-mode", choices=("in_memory", "multi_processing"),
                        default="in_memory")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", required=True, help="a scratch folder (replaced)")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # TFX's Beam executor parses sys.argv as Beam options

    from tfx.components.transform import executor as tfx_executor
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.types import Channel, standard_artifacts

    from components.transform import executor as our_executor
    from pipeline.pipeline import transform_component
    from runner import direct_beam

    shutil.rmtree(args.out, ignore_errors=True)
    direct_beam.skip_tfx_packaging_on_direct_runner()
    component = transform_component(Channel(type=standard_artifacts.Examples),
                                    Channel(type=standard_artifacts.Schema))
    examples = standard_artifacts.Examples()
    examples.uri = args.examples
    examples.split_names = json.dumps(["train", "eval"])
    examples.set_string_custom_property("file_format", "tfrecords_gzip")
    examples.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
    schema = standard_artifacts.Schema()
    schema.uri = os.path.join(args.out, "schema")
    os.makedirs(schema.uri)
    shutil.copy(os.path.join(ROOT, "pipeline", "schema.pbtxt"), schema.uri)
    graph = standard_artifacts.TransformGraph()
    graph.uri = os.path.join(args.out, "transform_graph")
    executor_class = our_executor.Executor if args.executor == "ours" else tfx_executor.Executor
    context = BaseBeamExecutor.Context(
        beam_pipeline_args=[f"--direct_running_mode={args.beam_mode}",
                            f"--direct_num_workers={args.workers}"],
        tmp_dir=os.path.join(args.out, "tmp"), unique_id="1")
    started = time.monotonic()
    executor_class(context).Do({"examples": [examples], "schema": [schema]},
                               {"transform_graph": [graph]}, dict(component.exec_properties))
    seconds = time.monotonic() - started
    assets = os.path.join(graph.uri, "transform_fn", "assets")
    vocabularies = {names.USER_ID: names.USER_VOCABULARY,
                    names.MOVIE_TITLE: names.MOVIE_VOCABULARY}
    ids = _ids(args.examples, list(vocabularies))
    for feature, vocabulary in vocabularies.items():
        with open(os.path.join(assets, vocabulary), "rb") as f:
            held = {line.rstrip(b"\n") for line in f}
        print(f"{feature}: {len(ids[feature]):,} in the examples, {len(held):,} in the "
              f"vocabulary, {len(ids[feature] - held):,} missing")
    print(f"Transform ({args.executor}'s executor, {args.beam_mode}, {args.workers} worker(s)): "
          f"{seconds:.1f} s")


if __name__ == "__main__":
    main()
