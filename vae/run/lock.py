"""One writer per run folder: an exclusive lock held for the whole run.

A run (or a re-evaluation) takes `lock(folder)` before it reads or writes
anything there; a second process on the same folder is refused at once with a
`BusyError` naming the folder and the process that holds it. The lock is the
kernel's (`fcntl.flock` on `folder/run.lock`), so it dies with its process:
a run killed with kill -9 never blocks the next one. The file keeps the
holder's PID, host and command, for the message only.

flock is advisory and local: it holds between processes of one machine, and
on network file systems only where they pass flock through (NFSv4 does; some
FUSE file systems do not).
"""

import errno
import fcntl
import os
import socket
import sys
import time
from typing import Optional

from vae import errors

LOCK = 'run.lock'


class BusyError(errors.InputError):
  """The run folder is in use by another process."""


class Lock:
  """A held lock. `release()` (or leaving its `with` block) removes the lock
  file, and the folders the lock created if nothing else was written there,
  then lets go.

  Args:
    folder: The locked folder.
    fd: The open lock file's descriptor.
    created: The outermost folder taking the lock created, or None.
  """

  def __init__(self, folder: str, fd: int, created: Optional[str]):
    self.folder = folder
    self.path = os.path.join(folder, LOCK)
    self._fd = fd
    self._created = created  # The outermost folder `lock` made, if any.

  def release(self):
    if self._fd is None:
      return
    # Still held, so no other process is inside; one that opened the file
    # meanwhile sees it gone once it locks it (`_open_locked`).
    os.remove(self.path)
    folder = os.path.abspath(self.folder)
    while self._created and not os.listdir(folder):
      os.rmdir(folder)
      if folder == self._created:
        break
      folder = os.path.dirname(folder)
    os.close(self._fd)  # Closing the file lets go of the lock.
    self._fd = None

  def __enter__(self) -> 'Lock':
    return self

  def __exit__(self, *exc_info):
    self.release()


def _describe(text: str) -> str:
  fields = dict(line.split('=', 1) for line in text.splitlines()
                if '=' in line)
  if 'pid' not in fields:
    return 'another process'
  since = fields.get('since', '?')
  return (f'process {fields["pid"]} on {fields.get("host", "?")} (since '
          f'{since}: {fields.get("command", "?")})')


def holder(folder: str) -> Optional[str]:
  """Who holds the lock on `folder` ("process 1234 on host (since ...:
  command)"), or None when it is free. Writes nothing.

  Args:
    folder: A run folder.
  """
  path = os.path.join(folder, LOCK)
  try:
    fd = os.open(path, os.O_RDONLY)
  except FileNotFoundError:
    return None
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return None
  except BlockingIOError:
    return _describe(os.read(fd, 4096).decode(errors='replace'))
  finally:
    os.close(fd)


def _flock(fd: int) -> bool:
  """Takes the exclusive lock of `fd`; False if another process holds it.
  Tries for a moment: `holder` takes it shared for an instant."""
  for _ in range(10):
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      return True
    except BlockingIOError:
      time.sleep(0.02)
  return False


def _open_locked(path: str) -> Optional[int]:
  """A descriptor of `path` holding its exclusive lock; None when another
  process holds it."""
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _flock(fd):
      os.close(fd)
      return None
    # The holder before may have removed the file (`Lock.release`)
    # between our open and our lock: then ours locks a file no one else
    # will open, and we try again.
    try:
      if os.stat(path).st_ino == os.fstat(fd).st_ino:
        return fd
    except FileNotFoundError:
      pass
    os.close(fd)


def lock(folder: str, flag: str = '--output_dir') -> Lock:
  """Takes the exclusive lock on `folder`, creating the folder if need be.

  Raises `BusyError` when another process holds it, and `errors.InputError`
  when the folder cannot be made (`flag` names it in messages).

  Args:
    folder: The run folder.
    flag: The flag that named it, for messages.
  """
  created = None
  parent = os.path.abspath(folder)
  while not os.path.exists(parent):
    created, parent = parent, os.path.dirname(parent)
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as e:
    raise errors.InputError(
        f'{flag}={folder}: cannot create the folder ({e.strerror or e}). '
        f'Pass a {flag} you can write to.') from e
  path = os.path.join(folder, LOCK)
  try:
    fd = _open_locked(path)
  except OSError as e:
    if e.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
      raise
    raise errors.InputError(
        f'{flag}={folder}: cannot write in the folder ({e.strerror}). Pass a '
        f'{flag} you can write to.') from e
  if fd is None:
    raise BusyError(
        f'{flag}={folder} is in use by {holder(folder) or "another process"}.'
        f' One folder holds one run: wait for that process to end (or stop '
        f'it), or pass another {flag}.')
  os.ftruncate(fd, 0)
  os.write(fd, (f'pid={os.getpid()}\nhost={socket.gethostname()}\n'
                f'since={time.strftime("%Y-%m-%d %H:%M:%S")}\n'
                f'command={_command()}\n').encode())
  return Lock(folder, fd, created)


def _command() -> str:
  """This process's command line, as typed for `python -m module`."""
  spec = getattr(sys.modules.get('__main__'), '__spec__', None)
  if spec is None or not spec.name or spec.name == '__main__':
    return ' '.join(sys.argv)
  return ' '.join(['python -m', spec.name.removesuffix('.__main__')]
                  + sys.argv[1:])
