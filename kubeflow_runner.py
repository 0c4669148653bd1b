#!/usr/bin/env python3
"""Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines (a PipelineJob JSON).

    python kubeflow_runner.py --pipeline-root gs://BUCKET/movielens \\
        --data gs://BUCKET/ml-100k.zip --image REGISTRY/movierec-tfx:TAG

Compiling is offline: our code is baked into the image (see Dockerfile) and named by dotted
path, so nothing is packaged or uploaded. Artifacts go under <root>/pipeline_root, pushed
models under <root>/serving/movielens; MLMD is the cluster's.
"""

import bootstrap

bootstrap.ensure_venv()  # before anything imports TensorFlow: sets TF_USE_LEGACY_KERAS=1

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import List, Optional  # noqa: E402

from pipeline import configs  # noqa: E402
from pipeline.cli import add_training_flags, training_config_from_args  # noqa: E402

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
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="the image built from Dockerfile")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="PipelineJob JSON to write")
    add_training_flags(parser)
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="a Beam pipeline option for every Beam component (repeatable), "
                             "e.g. --beam-arg=--runner=DataflowRunner")
    return parser.parse_args(argv)


def compile_pipeline(args: argparse.Namespace) -> str:
    """Writes the PipelineJob JSON; returns its path."""
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline, runtime_parameter_defaults

    config = configs.PipelineConfig(
        output_dir=args.pipeline_root,
        data=configs.DataConfig(source=args.data),
        training=training_config_from_args(args),
        beam_pipeline_args=tuple(args.beam_arg) or configs.PipelineConfig.beam_pipeline_args,
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=args.image),
        output_dir=os.path.dirname(os.path.abspath(args.output)),
        output_filename=os.path.basename(args.output))
    runner.run(create_pipeline(config, runtime_parameters=True),
               parameter_values=runtime_parameter_defaults(config))
    return os.path.abspath(args.output)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        path = compile_pipeline(args)
    except configs.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Pipeline compiled to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
