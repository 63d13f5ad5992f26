"""Experiment scripts: the only place where absl flags live."""
