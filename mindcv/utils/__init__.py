"""Utilities: logging, downloads, checkpoints, distributed helpers, model summary."""
