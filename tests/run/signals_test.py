"""Tests for vae/run/signals.py: SIGTERM and Ctrl-C as requests to stop."""

import os
import signal
import unittest

from vae.run import signals


class RequestsTest(unittest.TestCase):

  def test_sigterm_is_a_request_and_the_handler_is_restored(self):
    before = signal.getsignal(signal.SIGTERM)
    with signals.Requests() as stops:
      self.assertIsNone(stops.agreed())
      os.kill(os.getpid(), signal.SIGTERM)
      self.assertEqual(stops.agreed(), (signal.SIGTERM, None))
    self.assertEqual(signal.getsignal(signal.SIGTERM), before)

  def test_every_worker_gets_the_first_workers_signal(self):
    exchanged = []

    def per_worker(value):  # Worker 0 is this one; worker 2 got SIGTERM.
      exchanged.append(value)
      return [value, 0, signal.SIGTERM]

    with signals.Requests(per_worker) as stops:
      self.assertEqual(stops.agreed(), (signal.SIGTERM, 2))
      os.kill(os.getpid(), signal.SIGINT)
      self.assertEqual(stops.agreed(), (signal.SIGINT, 0))
    self.assertEqual(exchanged, [0, signal.SIGINT])

  def test_second_ctrl_c_stops_at_once(self):
    with signals.Requests() as stops:
      os.kill(os.getpid(), signal.SIGINT)
      self.assertEqual(stops.agreed(), (signal.SIGINT, None))
      with self.assertRaises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)


if __name__ == '__main__':
  unittest.main()
