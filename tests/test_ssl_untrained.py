"""node_knn.untrained_knn (experiments/ssl_untrained.py): the untrained
reference row of 000 Table 2."""

import jax
import numpy as np

import ktg_jax as ktg
from ktg_jax import data as data_lib
from ktg_jax.metrics import node_knn

from numpy_references import knn_votes


def test_untrained_knn_matches_numpy_per_seed():
  d = data_lib.load("digits", seed=0, val_fraction=0.25, limit=160)
  got = node_knn.untrained_knn(d, "small_cnn", (0, 3), split="val", k=5,
                                temperature=0.1)
  module = ktg.core.step.node_modules(ktg.classic.ssl("small_cnn"), 10)[0]
  want, banks = [], []
  for seed in (0, 3):
    v = module.init(jax.random.key(seed), d.train.images[:2], train=False)
    fb = node_knn.features(module, v, d.train.images, 64)
    banks.append(fb)
    fq = node_knn.features(module, v, d.val.images, 64)
    pred = knn_votes(fb, d.train.labels, fq, 10, 5, 0.1).argmax(1)
    want.append(np.mean(pred == d.val.labels))
  assert got.shape == (2,)
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert not np.allclose(banks[0], banks[1])  # each seed is a new network
