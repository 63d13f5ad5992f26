"""Tests for vae/registry.py."""

import tensorflow as tf

from vae import priors
from vae import registry


class RegistryTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.parts = registry.Registry('prior')
    self.parts.register('a', lambda x: x + 1, 'adds one', stochastic=True)
    self.parts.register('b', lambda x: x * 2)

  def test_build_and_names(self):
    self.assertEqual(self.parts.build('a', 1), 2)
    self.assertEqual(self.parts.build('b', 3), 6)
    self.assertEqual(self.parts.names(), ('a', 'b'))
    self.assertEqual(list(self.parts), ['a', 'b'])
    self.assertIn('a', self.parts)
    self.assertEqual(self.parts.traits('a'), {'stochastic': True})
    self.assertEqual(self.parts.describe(), 'a: adds one; b')

  def test_unknown_name_lists_the_known_ones(self):
    with self.assertRaisesRegex(
        ValueError, "prior=c: unknown prior; the known ones are a, b"):
      self.parts.build('c', 1)

  def test_a_name_registers_once(self):
    with self.assertRaisesRegex(ValueError, "'a' is registered already: "
                                'pass override=True'):
      self.parts.register('a', lambda x: x)

  def test_override_replaces_a_part(self):
    self.parts.register('a', lambda x: x * 10, 'times ten', fields=('f',),
                        override=True)
    self.assertEqual(self.parts.build('a', 2), 20)
    self.assertEqual(self.parts.fields('a'), ('f',))
    self.assertEqual(self.parts.traits('a'), {})
    self.assertEqual(list(self.parts), ['a', 'b'])

  def test_a_part_is_made_from_keywords_alone(self):
    self.parts.register('sized', lambda c, parts: (c.size, c.kind, parts.seed),
                        fields=('size',), fixed={'kind': 'x'})
    self.assertEqual(self.parts.build('sized', size=3, seed=7), (3, 'x', 7))
    with self.assertRaisesRegex(ValueError, "'sized' is made from its fields "
                                'size and the parts .*; missing: size; '
                                'unknown: sise'):
      self.parts.build('sized', sise=3)

  def test_a_registered_prior_from_keywords(self):
    prior = priors.PRIORS.build('mixture', latent_size=4, prior_components=3,
                                seed=0)
    self.assertEqual(prior().event_shape, [4])
    self.assertEqual(prior().batch_shape, [])

  def test_fields_and_fixed_values_are_kept(self):
    self.parts.register('c', lambda x: x, fields=('g', 'h'),
                        fixed={'objective': 'elbo'})
    self.assertEqual(self.parts.fields('c'), ('g', 'h'))
    self.assertEqual(self.parts.fixed('c'), {'objective': 'elbo'})
    self.assertEqual(self.parts.fixed('a'), {})


if __name__ == '__main__':
  tf.test.main()
