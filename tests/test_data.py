"""Data loaders, splits, the sealed test split and augmentation (ktg_jax.data)."""

import gzip
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ktg_jax import data
from ktg_jax.data import augment, idx


def _idx_bytes(array: np.ndarray) -> bytes:
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
      int(d).to_bytes(4, "big") for d in array.shape)
  return header + array.astype(np.uint8).tobytes()


def _write_fashion(folder, n_train=12, n_test=5, gz=True):
  rng = np.random.default_rng(0)
  arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28)),
            "train_labels": rng.integers(0, 10, n_train),
            "test_images": rng.integers(0, 256, (n_test, 28, 28)),
            "test_labels": rng.integers(0, 10, n_test)}
  for key, stem in idx.FILES.items():
    raw = _idx_bytes(arrays[key])
    path = os.path.join(folder, stem + (".gz" if gz else ""))
    with (gzip.open if gz else open)(path, "wb") as f:
      f.write(raw)
  return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_round_trip(tmp_path, gz):
  arrays = _write_fashion(str(tmp_path), gz=gz)
  raw = data.SOURCES["fashion_mnist"](data_dir=str(tmp_path))
  np.testing.assert_array_equal(raw.train_images[..., 0] * 255.0,
                                arrays["train_images"])
  np.testing.assert_array_equal(raw.test_labels, arrays["test_labels"])
  assert raw.train_images.dtype == np.float32 and raw.train_labels.dtype == np.int32
  assert raw.train_images.shape == (12, 28, 28, 1)


def test_idx_rejects_bad_files():
  with pytest.raises(idx.IDXError, match="magic"):
    idx.parse_idx(b"\x01\x02\x08\x01")
  with pytest.raises(idx.IDXError, match="bytes, expected"):
    idx.parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))


def test_fashion_mnist_env_var_and_missing(tmp_path, monkeypatch):
  _write_fashion(str(tmp_path))
  monkeypatch.setenv(idx.ENV_VAR, str(tmp_path))
  assert idx.find_fashion_mnist(search=())["train_images"].startswith(
      str(tmp_path))
  monkeypatch.delenv(idx.ENV_VAR)
  with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
    idx.find_fashion_mnist(str(tmp_path / "nowhere"))


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_files():
  d = data.load("fashion_mnist", limit=1000)
  assert d.train.images.shape == (800, 28, 28, 1)
  assert d.val.images.shape == (200, 28, 28, 1)
  assert d.test.images.shape == (1000, 28, 28, 1)
  assert 0.0 <= d.train.images.min() and d.train.images.max() <= 1.0
  assert set(np.unique(d.test.labels)) == set(range(10))
  labels = idx.read_idx(idx.find_fashion_mnist()["train_labels"])
  assert labels.shape == (60000,) and np.bincount(labels).tolist() == [6000] * 10


def test_digits():
  d = data.load("digits")
  assert d.num_classes == 10 and d.name == "digits"
  assert d.train.images.shape[1:] == (8, 8, 1)
  assert len(d.train.labels) + len(d.val.labels) + len(d.test.labels) == 1797
  assert d.train.labels.dtype == np.int32 and d.train.images.max() <= 1.0


def test_placed_images_are_the_originals_at_seeded_offsets():
  from ktg_jax.data import sources
  rng = np.random.RandomState(0)
  x = rng.rand(50, 3, 4, 1).astype(np.float32) + 0.1   # no zero pixel
  y = sources.place_images(x, 7, seed=3)
  assert y.shape == (50, 7, 7, 1)
  # independent reference: find each image's window by its nonzero support
  offsets = set()
  for img, out in zip(x, y):
    rows, cols = np.nonzero(out[..., 0])
    top, left = rows.min(), cols.min()
    offsets.add((top, left))
    np.testing.assert_array_equal(out[top:top + 3, left:left + 4], img)
    assert np.count_nonzero(out) == img.size  # the rest of the canvas is black
    assert 0 <= top <= 4 and 0 <= left <= 3
  assert len(offsets) > 5                         # positions vary
  np.testing.assert_array_equal(y, sources.place_images(x, 7, seed=3))
  assert not np.array_equal(y, sources.place_images(x, 7, seed=4))
  with pytest.raises(ValueError, match="canvas=3; allowed: an int >= 4"):
    sources.place_images(x, 3, seed=0)


def test_placed_digits_keep_labels_and_draw_test_positions_apart():
  from ktg_jax.data import sources
  raw = sources.placed(base="digits", canvas=12, seed=0)
  plain = sources.digits()
  np.testing.assert_array_equal(raw.train_labels, plain.train_labels)
  assert raw.train_images.shape[1:] == (12, 12, 1)
  # pixel mass is preserved image by image (the canvas adds only zeros)
  np.testing.assert_allclose(raw.test_images.sum((1, 2, 3)),
                             plain.test_images.sum((1, 2, 3)), rtol=1e-6)


def test_split_is_seeded_disjoint_and_saved(tmp_path):
  a = data.load("digits", seed=3)
  b = data.load("digits", seed=3)
  c = data.load("digits", seed=4)
  np.testing.assert_array_equal(a.split_indices["val"], b.split_indices["val"])
  assert not np.array_equal(a.split_indices["val"], c.split_indices["val"])
  tr, va = a.split_indices["train"], a.split_indices["val"]
  assert not set(tr) & set(va) and len(tr) + len(va) == 1438
  assert len(va) == round(0.2 * 1438)
  data.save_split(a, str(tmp_path))
  saved = data.load_split(str(tmp_path))
  np.testing.assert_array_equal(saved["val"], va)
  assert saved["name"] == "digits" and saved["seed"] == 3


def test_cifar_split_is_40k_10k():
  s = data.split_indices(50_000, 0.2, seed=0)
  assert (len(s["train"]), len(s["val"])) == (40_000, 10_000)


def test_cifar10_through_tfds_mock():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=20):
    d = data.load("cifar10", seed=0)
  assert d.num_classes == 10
  assert d.train.images.shape == (16, 32, 32, 3) and len(d.val.labels) == 4
  assert d.test.images.shape == (20, 32, 32, 3)
  assert d.train.images.dtype == np.float32 and d.train.images.max() <= 1.0


def test_unknown_dataset():
  with pytest.raises(ValueError, match="allowed"):
    data.load("imagenet")


def test_sealed_test_split_raises_and_counts():
  d = data.sealed(data.load("digits"))
  with pytest.raises(data.TestSplitAccessError):
    _ = d.test.images
  with pytest.raises(data.TestSplitAccessError):
    len(d.test)
  assert d.test.reads == 2
  assert len(d.val.labels) > 0  # the rest is untouched


def test_augmentation_shapes_and_determinism():
  x = jnp.arange(2 * 8 * 8 * 3, dtype=jnp.float32).reshape(2, 8, 8, 3)
  fn = augment.crop_flip(pad=2)
  a, b = fn(jax.random.key(0), x), fn(jax.random.key(0), x)
  assert a.shape == x.shape
  np.testing.assert_array_equal(a, b)
  outs = [fn(jax.random.key(k), x) for k in range(1, 6)]
  assert any(not np.array_equal(o, a) for o in outs)
  # pad 0 crop is the identity; a crop keeps values from the image or zeros.
  np.testing.assert_array_equal(augment.random_crop(jax.random.key(0), x, 0), x)
  c = augment.crop(1)(jax.random.key(1), x)
  assert set(np.unique(c)) <= set(np.unique(x)) | {0.0}
  assert augment.for_dataset("cifar10") is not None
  assert augment.for_dataset("nope") is None
