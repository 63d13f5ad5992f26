"""The error every part raises for bad input. It imports nothing, so tools
that only check a run folder (`run_lock`) start without TensorFlow."""


class InputError(ValueError):
  """A configuration or a run's folder asks for something impossible; the
  message says what, and what to do."""
