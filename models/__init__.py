"""Model code run inside the Transform and Trainer components (and in tests)."""
