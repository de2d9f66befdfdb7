"""The version of rnpa, in one place: pyproject.toml reads it, ``rnpa.__version__`` too."""

__version__ = "0.2.0"
