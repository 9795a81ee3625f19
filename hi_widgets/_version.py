"""The version of hi_widgets, written here only (hatch reads it for the build)."""

__version__ = "0.1.0"
