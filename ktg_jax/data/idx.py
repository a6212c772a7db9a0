"""IDX files (the MNIST / Fashion-MNIST format) and where Fashion-MNIST lives.

IDX: big-endian magic ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` uint32
dimension sizes, then the array. Files may be gzip-compressed (``.gz``).

Example:
  >>> import io, numpy as np
  >>> raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
  >>> parse_idx(raw).tolist()
  [[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import gzip
import os
from typing import Sequence

import numpy as np

# dtype code -> numpy dtype (big-endian where it matters), from the IDX format.
_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8),
           0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

ENV_VAR = "KTG_FASHION_MNIST_DIR"
# Where the Debian package `dataset-fashion-mnist` and common layouts put it.
SEARCH_PATHS = ("/usr/share/datasets/fashion-mnist",
                "/usr/share/fashion-mnist",
                "~/.cache/fashion-mnist", "~/data/fashion-mnist",
                "~/tensorflow_datasets/fashion-mnist", "./data/fashion-mnist")
FILES = {"train_images": "train-images-idx3-ubyte",
         "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte",
         "test_labels": "t10k-labels-idx1-ubyte"}
INSTALL_HINT = ("apt-get install dataset-fashion-mnist   (or `make data`; or "
                f"set {ENV_VAR} / pass data_dir= to a folder holding "
                + ", ".join(f + "[.gz]" for f in FILES.values()) + ")")


class IDXError(ValueError):
  """A file is not a valid IDX file; the message names the file and why."""


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
  """Parses the bytes of an (uncompressed) IDX file into a numpy array."""
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
    raise IDXError(f"{name}: magic {raw[:4]!r} is not an IDX header "
                   "(expected 0x00 0x00 <dtype> <ndim>)")
  code, ndim = raw[2], raw[3]
  if code not in _DTYPES:
    raise IDXError(f"{name}: dtype code {code:#x}; allowed: "
                   f"{[hex(c) for c in _DTYPES]}")
  header = 4 + 4 * ndim
  shape = tuple(int(d) for d in np.frombuffer(raw[4:header], ">u4"))
  dtype = _DTYPES[code]
  want = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  if len(raw) != want:
    raise IDXError(f"{name}: {len(raw)} bytes, expected {want} for shape "
                   f"{shape} of {dtype}")
  return np.frombuffer(raw[header:], dtype).reshape(shape).astype(
      dtype.newbyteorder("="))


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file, gzip-compressed when its name ends in ``.gz``."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    return parse_idx(f.read(), path)


def _find_file(folder: str, stem: str) -> str | None:
  for name in (stem + ".gz", stem):
    path = os.path.join(folder, name)
    if os.path.isfile(path):
      return path
  return None


def find_fashion_mnist(data_dir: str | None = None,
                       search: Sequence[str] = SEARCH_PATHS) -> dict:
  """Paths of the four Fashion-MNIST files: data_dir, then $ENV_VAR, then search.

  Raises:
    FileNotFoundError: naming the folders looked in and the apt command.
  """
  candidates = ([data_dir] if data_dir else []) + (
      [os.environ[ENV_VAR]] if os.environ.get(ENV_VAR) else []) + (
          [] if data_dir else list(search))
  for folder in candidates:
    folder = os.path.expanduser(folder)
    paths = {k: _find_file(folder, stem) for k, stem in FILES.items()}
    if all(paths.values()):
      return paths
  raise FileNotFoundError(
      "Fashion-MNIST IDX files not found in any of "
      f"{[os.path.expanduser(c) for c in candidates]}; install them with: "
      + INSTALL_HINT)


def load_fashion_mnist(data_dir: str | None = None):
  """(train_images u8[60000,28,28,1], train_labels, test_images, test_labels)."""
  paths = find_fashion_mnist(data_dir)
  arrays = {k: read_idx(p) for k, p in paths.items()}
  for split in ("train", "test"):
    n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
    if n_img != n_lab:
      raise IDXError(f"{split}: {n_img} images but {n_lab} labels")
  return (arrays["train_images"][..., None], arrays["train_labels"],
          arrays["test_images"][..., None], arrays["test_labels"])
