"""MovieLensExampleGen, laid out as TFX lays out its components: the component and its spec
(component.py), the executor (executor.py), the Beam reading and parsing of GroupLens files
(parsing.py) and the tf.Example they make (examples.py)."""
