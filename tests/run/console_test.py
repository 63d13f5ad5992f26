"""Tests for vae/run/console.py: what the scripts print."""

import logging
import unittest

from absl.testing import parameterized

from vae.run import console


def record(level, pathname):
  return logging.LogRecord('absl', level, pathname, 1, 'saved %s', ('it',),
                           None)


class ConsoleTest(parameterized.TestCase):

  @parameterized.parameters(
      ([], False), (['--beta=1'], False), (['--verbosity=1'], True),
      (['--verbosity', '2'], True), (['-v=1'], True), (['-v', '1'], True),
      (['--v=1'], True), (['-v=0'], False), (['--verbosity=-1'], False),
      (['--verbosity=x'], False), (['-v'], False),
      (['--verbosity=1', '--verbosity=0'], False))
  def test_verbose_reads_absl_verbosity_before_flags_are_parsed(self, argv,
                                                                expected):
    self.assertEqual(console.verbose(['prog'] + argv), expected)

  def test_info_of_chatty_libraries_only_is_dropped(self):
    tf_file = '/venv/lib/site-packages/tensorflow/python/saver.py'
    self.assertFalse(console._ours(record(logging.INFO, tf_file)))
    self.assertTrue(console._ours(record(logging.INFO,
                                         '/repo/vae/run/runner.py')))
    self.assertTrue(console._ours(record(logging.INFO, '/home/me/mine.py')))
    # A file merely named like a library is not one.
    self.assertTrue(console._ours(record(logging.INFO, '/x/tensorflow.py')))

  def test_plain_lines_name_the_level_of_warnings_only(self):
    formatter = console._PlainFormatter()
    self.assertRegex(formatter.format(record(logging.INFO, 'a.py')),
                     r'^\d\d:\d\d:\d\d saved it$')
    self.assertRegex(formatter.format(record(logging.WARNING, 'a.py')),
                     r'^\d\d:\d\d:\d\d WARNING: saved it$')


if __name__ == '__main__':
  unittest.main()
