"""The error every part raises for bad input. It imports nothing, so tools
that only check a run folder (`run_lock`) start without TensorFlow."""


class InputError(ValueError):
  """A configuration or a run's folder asks for something impossible; the
  message says what, and what to do."""


class DataError(ValueError):
  """The data asked for cannot be read; the message says why and what to do."""


class DownloadError(DataError):
  """The dataset is not on disk and TFDS cannot download it."""


class Stopped(Exception):
  """Training stopped early on request (a signal), after a checkpoint; the
  same command resumes. `exit_code` is the shell's for that signal."""

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code


class WorkerLost(RuntimeError):
  """A worker of a multi-worker run stopped answering; the survivors end
  with this instead of waiting."""
