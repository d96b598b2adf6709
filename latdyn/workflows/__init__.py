"""Whole-command workflows chaining the pipeline stages."""
