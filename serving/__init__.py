"""Talking to the served model: a TF Serving client and a latency benchmark.

Nothing here imports the training stack: requests are plain JSON / protos, and the local mode
loads the SavedModel with TensorFlow alone, as TF Serving does.
"""
