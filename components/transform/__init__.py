"""TFX's Transform, analyzing each Examples artifact's splits in one read (executor.py), laid
out as TFX lays out its components: the component (component.py) and its executor."""
