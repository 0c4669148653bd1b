# The pipeline image for Kubeflow Pipelines / Vertex AI Pipelines: TFX 1.16's image plus our
# pinned extras and our code (components, models and pipeline are imported by dotted path).
#   docker build -t REGISTRY/movierec-tfx:TAG . && docker push REGISTRY/movierec-tfx:TAG
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# names.TF_ENVIRONMENT (bootstrap.py sets it), read when a component first imports TensorFlow:
# Keras 2 for TFRS, oneDNN's kernels on CPUs where TensorFlow leaves them off.
ENV TF_USE_LEGACY_KERAS=1 TF_ENABLE_ONEDNN_OPTS=1

WORKDIR /pipeline
COPY requirements.txt constraints.txt ./
RUN python -m pip install --no-cache-dir -c constraints.txt \
      tensorflow-recommenders==0.7.7 tensorflow-datasets==4.9.10

COPY names.py ./
COPY movielens/ movielens/
COPY components/ components/
COPY models/ models/
COPY pipeline/ pipeline/
COPY serving/ serving/
ENV PYTHONPATH=/pipeline
