"""Ensemble accuracy, diversity (eq 4.2) and gain (eq 4.4) against numpy loops."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from ktg_jax.metrics import ensemble as ev
from ktg_jax.families.ensemble import nodes as ensemble_nodes

RNG = np.random.default_rng(0)
M, N, C = 4, 30, 5
Z = (RNG.normal(size=(M, N, C)) * 2).astype(np.float32)
Y = RNG.integers(0, C, size=N)


def np_softmax(z):
  z = np.asarray(z, np.float64)
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def np_acc(z, y):
  return np.mean([np.argmax(z[n]) == y[n] for n in range(len(y))])


def np_diversity(z1, z2):
  p1, p2 = np_softmax(z1), np_softmax(z2)
  total = 0.0
  for n in range(len(p1)):
    kl12 = sum(p1[n, c] * np.log(p1[n, c] / p2[n, c]) for c in range(C))
    kl21 = sum(p2[n, c] * np.log(p2[n, c] / p1[n, c]) for c in range(C))
    total += 0.5 * (kl12 + kl21)
  return total / len(p1)


def test_accuracy():
  got = ev.accuracy(Z, Y)
  chex.assert_shape(got, (M,))
  np.testing.assert_allclose(got, [np_acc(Z[m], Y) for m in range(M)])


def test_ensemble_accuracy_is_that_of_the_mean_logits_by_hand():
  mean = np.zeros((N, C))
  for m in range(M):
    mean += Z[m] / M
  np.testing.assert_allclose(ensemble_nodes.ensemble_logits(Z), mean, rtol=1e-5,
                             atol=1e-6)
  want = np_acc(mean, Y)
  np.testing.assert_allclose(ev.ensemble_accuracy(Z, Y), want)
  accs = [np_acc(Z[m], Y) for m in range(M)]
  np.testing.assert_allclose(ev.ensemble_gain(Z, Y), want - np.mean(accs),
                             atol=1e-6)


def test_ensemble_of_disagreeing_members_can_gain():
  # Each member is right on a different half, confidently; wrong weakly.
  y = np.array([0, 0, 0, 0])
  z = np.array([[[3, 0], [3, 0], [0, 1], [0, 1]],
                [[0, 1], [0, 1], [3, 0], [3, 0]]], np.float32)
  assert float(ev.ensemble_accuracy(z, y)) == 1.0
  np.testing.assert_allclose(ev.ensemble_gain(z, y), 0.5)


def test_diversity_against_numpy():
  for a, b in [(0, 1), (2, 3)]:
    np.testing.assert_allclose(ev.diversity(Z[a], Z[b]),
                               np_diversity(Z[a], Z[b]), rtol=1e-4)
  np.testing.assert_allclose(ev.diversity(Z[0], Z[0]), 0.0, atol=1e-7)
  np.testing.assert_allclose(ev.diversity(Z[0], Z[1]), ev.diversity(Z[1], Z[0]),
                             rtol=1e-6)
  chex.assert_shape(ev.mutual_kl(Z[0], Z[1]), (N,))


def test_diversity_matrix_against_pairs():
  got = np.asarray(ev.diversity_matrix(Z))
  chex.assert_shape(got, (M, M))
  for a in range(M):
    for b in range(M):
      want = 0.0 if a == b else np_diversity(Z[a], Z[b])
      np.testing.assert_allclose(got[a, b], want, rtol=1e-3, atol=1e-5)
  assert np.all(got[~np.eye(M, dtype=bool)] > 0)


def test_pairwise_gain_against_numpy():
  got = np.asarray(jax.jit(ev.pairwise_gain)(Z, Y))
  chex.assert_shape(got, (M, M))
  accs = [np_acc(Z[m], Y) for m in range(M)]
  for a in range(M):
    for b in range(M):
      want = np_acc((Z[a] + Z[b]) / 2, Y) - 0.5 * (accs[a] + accs[b])
      np.testing.assert_allclose(got[a, b], want, atol=1e-6)
  np.testing.assert_allclose(got[0, 1], ev.ensemble_gain(Z[:2], Y), atol=1e-6)
