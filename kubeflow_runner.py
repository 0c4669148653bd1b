#!/usr/bin/env python3
"""Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines (a PipelineJob JSON).

    python kubeflow_runner.py --pipeline-root gs://BUCKET/movielens \\
        --data gs://BUCKET/ml-100k.zip --image REGISTRY/movierec-tfx:TAG

Compiling is offline: our code is baked into the image (see Dockerfile) and named by dotted
path, so nothing is packaged or uploaded. Artifacts go under <root>/pipeline_root, pushed
models under <root>/serving/movielens; MLMD is the cluster's.

Spans (a drops folder, local_runner.py's --span and --window) are local-only and refused here:
the window's resolvers use our own ResolverStrategy, which KFP v2 does not compile
(pipeline.check_spans).
"""

import bootstrap

bootstrap.ensure_venv()  # before anything imports TensorFlow: sets names.TF_ENVIRONMENT

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from typing import List, Optional  # noqa: E402

import names  # noqa: E402
from pipeline import configs  # noqa: E402
from runner.flags import add_pipeline_flags, pipeline_fields_from_args  # noqa: E402

DEFAULT_IMAGE = "movierec-tfx:latest"
DEFAULT_OUTPUT = "movielens-multitask-pipeline.json"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline-root", required=True,
                        help="where runs write, e.g. gs://bucket/movielens")
    parser.add_argument("--data", default="gs://YOUR_BUCKET/ml-100k.zip",
                        help="GroupLens .zip or folder the workers can read (gs://...), or "
                             "tfds:movielens/100k-ratings")
    parser.add_argument("--split", choices=configs.SPLIT_METHODS, default=configs.DataConfig.split,
                        help="hash (TFX's hash split, default) or time (train before a cut-off "
                             "time, eval after)")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="the image built from Dockerfile")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="PipelineJob JSON to write")
    add_pipeline_flags(parser)
    dataflow = parser.add_argument_group(
        "Dataflow", "run the Beam components (ExampleGen, StatisticsGen, Transform, Evaluator...) "
                    "on Dataflow, with the pipeline image as the workers' SDK container")
    dataflow.add_argument("--dataflow-project", help="GCP project (turns Dataflow on)")
    dataflow.add_argument("--dataflow-region", help="e.g. europe-west1")
    dataflow.add_argument("--dataflow-temp-location",
                          help="gs:// folder for Beam's temp files (default <root>/beam-temp)")
    vertex = parser.add_argument_group(
        "Vertex AI Training", "run the Trainer as a Vertex AI Training job on N machines "
                              "(MultiWorkerMirroredStrategy), with the pipeline image")
    vertex.add_argument("--vertex-training-workers", type=int, metavar="N",
                        help="machines for the Trainer (turns Vertex training on)")
    vertex.add_argument("--vertex-project", help="GCP project of the training job")
    vertex.add_argument("--vertex-region", help="e.g. europe-west1")
    vertex.add_argument("--vertex-machine-type", default=configs.VertexTraining.machine_type)
    return parser.parse_args(argv)


def dataflow_beam_args(project: str, region: str, temp_location: str,
                       image: str) -> List[str]:
    """Beam options for Dataflow. The workers run our transforms (the GroupLens reader, the
    preprocessing_fn), so they use the pipeline image itself: TFX's base image ships Beam's SDK
    harness as its entrypoint, and ours adds our code and TF_USE_LEGACY_KERAS=1."""
    for name, value in (("--dataflow-project", project), ("--dataflow-region", region)):
        if not value:
            raise configs.ConfigError(f"Dataflow needs {name}")
    if not temp_location.startswith("gs://"):
        raise configs.ConfigError(
            f"Dataflow's temp location must be on gs://, got {temp_location!r}")
    return ["--runner=DataflowRunner", f"--project={project}", f"--region={region}",
            f"--temp_location={temp_location}", f"--sdk_container_image={image}",
            "--experiments=use_runner_v2"]


def scope_baseline_to_pipeline(job: dict, pipeline_name: str) -> None:
    """Restricts the compiled served-model queries (the Evaluator's baseline, and the warm
    start's base model when on) to blessings of this pipeline, in place.

    TFX compiles LatestBlessedModelStrategy to a metadata query for the newest blessed
    ModelBlessing of the whole store, and a project's store is shared by all its pipelines:
    another pipeline's model would become this one's baseline. Our Evaluator records the
    pipeline's name on its blessing (`names.BLESSING_PIPELINE_KEY`); the query is given a
    filter on it, in the syntax of the query's own `blessed` filter.
    """
    if not _PIPELINE_NAME.fullmatch(pipeline_name):
        raise configs.ConfigError(f"pipeline_name {pipeline_name!r} cannot go in a query")
    blessing_queries = [
        query for executor in job["pipelineSpec"]["deploymentSpec"]["executors"].values()
        for query in executor.get("resolver", {}).get("outputArtifactQueries", {}).values()
        if 'schema_title="tfx.ModelBlessing"' in query["filter"]]
    if not blessing_queries:  # TFX compiles the strategy differently: look again
        raise RuntimeError("expected one ModelBlessing query per served-model resolver in the "
                           "compiled pipeline, found none")
    for query in blessing_queries:
        query["filter"] += (
            f' AND metadata.{names.BLESSING_PIPELINE_KEY}.string_value="{pipeline_name}"')


_PIPELINE_NAME = re.compile(r"[a-z0-9-]+")


def compile_pipeline(args: argparse.Namespace) -> str:
    """Writes the PipelineJob JSON; returns its path."""
    from tfx import v1 as tfx

    from movielens import source as data_source
    from pipeline.pipeline import Mode, create_pipeline, runtime_parameter_defaults

    fields = pipeline_fields_from_args(args)
    if args.dataflow_project or args.dataflow_region:
        temp_location = args.dataflow_temp_location or f"{args.pipeline_root}/beam-temp"
        fields["beam_pipeline_args"] = (*dataflow_beam_args(
            args.dataflow_project, args.dataflow_region, temp_location, args.image),
            *args.beam_arg)
    config = configs.PipelineConfig(
        output_dir=args.pipeline_root,
        data=configs.DataConfig(source=args.data, split=args.split),
        **fields,
        vertex_training=None if args.vertex_training_workers is None else configs.VertexTraining(
            project=args.vertex_project or "", region=args.vertex_region or "",
            image=args.image, workers=args.vertex_training_workers,
            machine_type=args.vertex_machine_type),
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=args.image),
        output_dir=os.path.dirname(os.path.abspath(args.output)),
        output_filename=os.path.basename(args.output))
    source = data_source.resolve(config.data.source, config.cache_dir)
    runner.run(create_pipeline(config, source, Mode.KUBEFLOW),
               parameter_values=runtime_parameter_defaults(config, source))
    path = os.path.abspath(args.output)
    with open(path) as f:
        job = json.load(f)
    scope_baseline_to_pipeline(job, config.pipeline_name)
    with open(path, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    return path


def main(argv: Optional[List[str]] = None) -> int:
    from movielens.source import DataSourceError

    args = parse_args(argv)
    try:
        path = compile_pipeline(args)
    except (configs.ConfigError, DataSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Pipeline compiled to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
