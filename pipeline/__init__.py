"""Pipeline definition: configuration (configs.py) and the TFX DAG (pipeline.py)."""
