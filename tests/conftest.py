"""pytest set-up: absl flags count as parsed, as under absltest.main()."""

from absl import flags


def pytest_configure(config):
  del config
  flags.FLAGS.mark_as_parsed()
