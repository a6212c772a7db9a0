"""Labelled / unlabelled splits and resumable batches (ktg_jax.data.semi)."""

import chex
import numpy as np
import pytest

from ktg_jax import data
from ktg_jax.data import semi

N_TRAIN, CLASSES = 400, 10


@pytest.fixture(scope="module")
def dataset():
  """A toy data set whose image i holds the value i: batches name their source."""
  rng = np.random.default_rng(0)
  ids = np.arange(N_TRAIN, dtype=np.float32)
  raw = data.Raw(
      train_images=np.broadcast_to(ids[:, None, None, None],
                                   (N_TRAIN, 4, 4, 1)).copy(),
      train_labels=rng.integers(0, CLASSES, N_TRAIN).astype(np.int32),
      test_images=np.zeros((5, 4, 4, 1), np.float32),
      test_labels=np.zeros(5, np.int32), num_classes=CLASSES)
  return data.from_arrays(raw, "toy", seed=3, val_fraction=0.2)


def _ids(images):
  return images[:, 0, 0, 0].astype(np.int64)


def test_labeled_subset_draws_exactly_n_per_class_reproducibly():
  labels = np.random.default_rng(1).integers(0, 5, 200)
  idx = semi.labeled_subset(labels, per_class=4, seed=7)
  np.testing.assert_array_equal(np.bincount(labels[idx], minlength=5), [4] * 5)
  assert len(np.unique(idx)) == len(idx) == 20
  np.testing.assert_array_equal(idx, semi.labeled_subset(labels, 4, seed=7))
  assert not np.array_equal(idx, semi.labeled_subset(labels, 4, seed=8))
  # Nested: the 4-per-class set lies inside the 10-per-class set (same seed).
  assert set(idx) <= set(semi.labeled_subset(labels, 10, seed=7))


def test_labeled_subset_names_a_class_that_is_too_small():
  labels = np.array([0] * 5 + [1] * 2 + [2] * 5)
  with pytest.raises(ValueError, match=r"class 1 has 2 examples.*per_class=3"):
    semi.labeled_subset(labels, 3, seed=0)
  with pytest.raises(ValueError, match=r"class 3 has 0 examples"):
    semi.labeled_subset(labels, 1, seed=0, num_classes=4)
  with pytest.raises(ValueError, match=r"per_class=0; allowed"):
    semi.labeled_subset(labels, 0, seed=0)


def test_sets_partition_train_and_never_touch_validation(dataset):
  s = semi.semi_supervised(dataset, per_class=4, seed=1)
  lab, unl, val = (set(s.indices[k].tolist())
                   for k in ("labeled", "unlabeled", "val"))
  assert not lab & unl and not (lab | unl) & val
  assert lab | unl == set(dataset.split_indices["train"].tolist())
  assert val == set(dataset.split_indices["val"].tolist())
  # The arrays hold those very examples (image i holds the value i).
  np.testing.assert_array_equal(_ids(s.labeled.images), s.indices["labeled"])
  np.testing.assert_array_equal(_ids(s.unlabeled.images), s.indices["unlabeled"])
  np.testing.assert_array_equal(np.bincount(s.labeled.labels), [4] * CLASSES)
  assert s.val is dataset.val and len(s.unlabeled.labels) == 320 - 40


def test_batches_have_the_fixmatch_shapes(dataset):
  s = semi.semi_supervised(dataset, per_class=2, seed=0)
  b = semi.batch_at(s, step=0, batch_size=8, mu=3, seed=0)
  assert set(b) == {"image", "label", "unlabeled_image"}
  chex.assert_shape([b["image"], b["label"], b["unlabeled_image"]],
                    [(8, 4, 4, 1), (8,), (24, 4, 4, 1)])
  assert b["image"].dtype == np.float32 and b["label"].dtype == np.int32
  lab = set(s.indices["labeled"].tolist())
  assert set(_ids(b["image"])) <= lab
  assert not set(_ids(b["unlabeled_image"])) & (lab | set(s.indices["val"]))
  # Labels match the images they come with.
  by_id = dict(zip(s.indices["labeled"].tolist(), s.labeled.labels.tolist()))
  assert [by_id[i] for i in _ids(b["image"])] == b["label"].tolist()


def test_each_epoch_sees_every_labelled_example_once(dataset):
  s = semi.semi_supervised(dataset, per_class=2, seed=0)  # 20 labelled
  seen = np.concatenate([_ids(semi.batch_at(s, k, 5, 0)["image"])
                         for k in range(4)])
  np.testing.assert_array_equal(np.sort(seen), s.indices["labeled"])
  # batch 8 > 20 examples / straddling epochs still works: 3 steps = 24 items.
  first = [_ids(semi.batch_at(s, k, 8, 0)["image"]) for k in range(3)]
  assert sorted(np.concatenate(first)[:20]) == s.indices["labeled"].tolist()


def test_batches_are_resumable_and_seeded(dataset):
  s = semi.semi_supervised(dataset, per_class=3, seed=0)
  it = semi.batches(s, batch_size=7, mu=2, seed=5)
  from_zero = [next(it) for _ in range(6)]
  resumed = next(semi.batches(s, batch_size=7, mu=2, seed=5, start_step=5))
  for key in from_zero[5]:
    np.testing.assert_array_equal(from_zero[5][key], resumed[key])
  other = semi.batch_at(s, 5, 7, 2, seed=6)
  assert not np.array_equal(other["unlabeled_image"],
                            resumed["unlabeled_image"])
  assert not np.array_equal(from_zero[4]["image"], from_zero[5]["image"])


def test_labeled_indices_saved_beside_a_run_rebuild_the_same_sets(dataset,
                                                                    tmp_path):
  s = semi.semi_supervised(dataset, per_class=4, seed=2)
  path = semi.save_labeled(s, str(tmp_path))
  assert path.endswith(semi.LABELED_FILE)
  record = semi.load_labeled(str(tmp_path))
  assert (record["name"], record["seed"], record["split_seed"],
          record["per_class"]) == ("toy", 2, 3, 4)
  again = semi.semi_supervised(dataset, labeled=record["labeled"])
  for key in ("labeled", "unlabeled", "val"):
    np.testing.assert_array_equal(again.indices[key], s.indices[key])
  assert again.per_class == 4
  with pytest.raises(ValueError, match=r"labeled=\[.*not in this dataset's "
                     r"train split"):
    semi.semi_supervised(dataset, labeled=dataset.split_indices["val"][:3])
  with pytest.raises(ValueError, match=r"per_class=None"):
    semi.semi_supervised(dataset)


def test_load_cuts_a_registered_data_set_twice():
  s = semi.load("digits", per_class=5, seed=1, split_seed=2, limit=300)
  base = data.load("digits", seed=2, limit=300)
  np.testing.assert_array_equal(np.bincount(s.labeled.labels), [5] * 10)
  np.testing.assert_array_equal(
      np.sort(np.concatenate([s.indices["labeled"], s.indices["unlabeled"]])),
      base.split_indices["train"])
  np.testing.assert_array_equal(s.val.labels, base.val.labels)
