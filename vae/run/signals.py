"""Stopping training gracefully: on SIGTERM (how schedulers and preemptible
machines give notice) or Ctrl-C, training stops at the end of the running
call, with a checkpoint of the step it reached.

Under the multi-worker strategy every worker stops at the same step, however
many received the signal: at each call's end the workers exchange what they
received (`distribute.per_worker`). A second Ctrl-C stops at once, without
a checkpoint.
"""

import signal
import threading
from typing import Callable, List, Optional, Tuple

from absl import logging

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Requests:
  """Within it (in the main thread), SIGTERM and SIGINT are requests to stop
  rather than the end of the process.

  Args:
    per_worker: With several workers, `distribute.per_worker`'s gather, so all
      stop at one step; None for one process.
  """

  def __init__(self, per_worker: Optional[Callable[[int], List[int]]] = None):
    """`per_worker(value)` returns every worker's value (a collective), or
    None for a single process."""
    self.signum = 0
    self._per_worker = per_worker
    self._saved = {}

  def __enter__(self) -> 'Requests':
    if threading.current_thread() is threading.main_thread():
      for signum in _SIGNALS:
        self._saved[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info):
    for signum, handler in self._saved.items():
      signal.signal(signum, handler)
    self._saved.clear()

  def _handle(self, signum, frame):
    del frame
    if self.signum == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signum = self.signum or signum
    logging.warning('%s received: stopping at the end of this call of '
                    'training, with a checkpoint%s.',
                    signal.Signals(signum).name,
                    ' (Ctrl-C again stops at once)'
                    if signum == signal.SIGINT else '')

  def agreed(self) -> Optional[Tuple[int, Optional[int]]]:
    """None to go on; else (the signal, the worker that got it, None for
    this process). Every worker gets the same answer."""
    if self._per_worker is None:
      return (self.signum, None) if self.signum else None
    for worker, signum in enumerate(self._per_worker(self.signum)):
      if signum:
        return signum, worker
    return None
