"""Weighted cosine KNN (ktg_jax.metrics.knn) against numpy and scikit-learn."""

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from ktg_jax.metrics import knn

from numpy_references import knn_votes


def data(seed, n_bank=40, n_query=13, d=5, c=3):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(c, d)) * 2
  yb = rng.integers(0, c, n_bank)
  yq = rng.integers(0, c, n_query)
  xb = centres[yb] + rng.normal(size=(n_bank, d))
  xq = centres[yq] + rng.normal(size=(n_query, d))
  return xb.astype(np.float32), yb, xq.astype(np.float32), yq


@pytest.mark.parametrize("k,t", [(knn.DEFAULT_K, knn.DEFAULT_TEMPERATURE),
                                 (5, 0.1), (1, 0.5)])
def test_weighted_matches_numpy(k, t):
  xb, yb, xq, yq = data(0)
  votes = knn_votes(xb, yb, xq, 3, k, t)
  got = knn.knn_predict(xb, yb, xq, 3, k=k, temperature=t, chunk=4)
  np.testing.assert_array_equal(got, votes.argmax(1))
  acc = knn.knn_accuracy(xb, yb, xq, yq, 3, k=k, temperature=t)
  assert acc == pytest.approx(np.mean(votes.argmax(1) == yq))


def test_weights_matter():
  # Two far neighbours of class 0 vs one very close of class 1 (k = 3):
  # the majority says 0, exp(sim / T) with a small T says 1.
  xb = np.array([[1, 0], [0.6, 0.8], [0.6, -0.8]], np.float32)
  yb = np.array([1, 0, 0])
  xq = np.array([[1, 0.01]], np.float32)
  assert knn.knn_predict(xb, yb, xq, 2, k=3, temperature=0.05)[0] == 1
  assert knn.knn_predict(xb, yb, xq, 2, k=3, weighting="uniform")[0] == 0


def test_uniform_matches_sklearn_on_a_tie_free_example():
  xb, yb, xq, _ = data(1, n_bank=60, n_query=25)
  k = 7
  votes = knn_votes(xb, yb, xq, 3, k, 1.0, uniform=True)
  top2 = np.sort(votes, axis=1)[:, -2:]
  assert np.all(top2[:, 1] > top2[:, 0]), "example must be tie-free"
  ref = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute",
                             weights="uniform").fit(xb, yb).predict(xq)
  got = knn.knn_predict(xb, yb, xq, 3, k=k, weighting="uniform", chunk=8)
  np.testing.assert_array_equal(got, ref)


def test_chunking_does_not_change_predictions():
  xb, yb, xq, _ = data(2, n_query=17)
  full = knn.knn_predict(xb, yb, xq, 3, k=5, chunk=17)
  for chunk in (1, 4, 100):
    np.testing.assert_array_equal(
        knn.knn_predict(xb, yb, xq, 3, k=5, chunk=chunk), full)


def test_errors_name_argument_value_and_allowed():
  xb, yb, xq, _ = data(3)
  with pytest.raises(ValueError, match="k=41; allowed: 1 <= k <= bank size 40"):
    knn.knn_predict(xb, yb, xq, 3, k=41)
  with pytest.raises(ValueError, match="weighting='gauss'.*exp.*uniform"):
    knn.knn_predict(xb, yb, xq, 3, weighting="gauss")
  with pytest.raises(ValueError, match="temperature=0"):
    knn.knn_predict(xb, yb, xq, 3, temperature=0)
