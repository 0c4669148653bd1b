"""Custom TFX components of the MovieLens pipeline."""
