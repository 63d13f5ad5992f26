"""Tests for vae/run/lock.py: one process per run folder."""

import os
import signal
import subprocess
import sys
import tempfile
import unittest

from vae.run import lock as run_lock

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# A process that takes the lock, says so, and waits to be killed.
_HOLD = ('import sys, time\n'
         'from vae.run import lock as run_lock\n'
         'run_lock.lock(sys.argv[1])\n'
         'print("locked", flush=True)\n'
         'time.sleep(600)\n')


def hold_in_another_process(folder: str) -> subprocess.Popen:
  process = subprocess.Popen(
      [sys.executable, '-c', _HOLD, folder], cwd=_REPO,
      stdout=subprocess.PIPE, text=True)
  assert process.stdout.readline() == 'locked\n'
  return process


class RunLockTest(unittest.TestCase):

  def setUp(self):
    super().setUp()
    self.folder = os.path.join(tempfile.mkdtemp(), 'run')

  def test_second_holder_is_refused_with_the_first_named(self):
    with run_lock.lock(self.folder):
      with self.assertRaisesRegex(
          run_lock.BusyError,
          f'^--output_dir={self.folder} is in use by process {os.getpid()} '
          r'on \S+ \(since [-0-9]+ [:0-9]+: .*\)\. .*pass another '
          '--output_dir'):
        run_lock.lock(self.folder)
      self.assertIn(f'process {os.getpid()} on',
                    run_lock.holder(self.folder))
    self.assertIsNone(run_lock.holder(self.folder))
    run_lock.lock(self.folder).release()  # Free again.

  def test_release_leaves_no_trace_in_a_new_folder(self):
    run_lock.lock(os.path.join(self.folder, 'a', 'b')).release()
    self.assertFalse(os.path.exists(self.folder))
    self.assertTrue(os.path.isdir(os.path.dirname(self.folder)))

  def test_release_keeps_what_the_folder_holds(self):
    os.makedirs(self.folder)
    with run_lock.lock(self.folder) as held:
      with open(os.path.join(self.folder, 'metrics.csv'), 'w') as f:
        f.write('step\n')
      self.assertTrue(os.path.exists(held.path))
    self.assertEqual(os.listdir(self.folder), ['metrics.csv'])

  def test_lock_of_a_killed_process_is_free(self):
    process = hold_in_another_process(self.folder)
    try:
      self.assertIn(f'process {process.pid} on',
                    run_lock.holder(self.folder))
      with self.assertRaisesRegex(run_lock.BusyError,
                                  f'in use by process {process.pid} '):
        run_lock.lock(self.folder)
    finally:
      process.send_signal(signal.SIGKILL)
      process.wait()
    # The file is left behind with the dead process in it, and blocks
    # nothing: the kernel let go of the lock.
    self.assertTrue(os.path.exists(os.path.join(self.folder, run_lock.LOCK)))
    self.assertIsNone(run_lock.holder(self.folder))
    with run_lock.lock(self.folder):
      self.assertIn(f'process {os.getpid()} on',
                    run_lock.holder(self.folder))

  def test_folder_that_cannot_be_made_is_named(self):
    with self.assertRaisesRegex(
        run_lock.errors.InputError,
        r'^--output_dir=/proc/no_vae/run: cannot create the folder \(No such '
        r'file or directory\)\. Pass a --output_dir you can write to\.$'):
      run_lock.lock('/proc/no_vae/run')


if __name__ == '__main__':
  unittest.main()
