"""The record every raw data source returns: the full train and test sets
as numpy arrays (images float32 NHWC in [0, 1], labels int32)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Raw(NamedTuple):
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int
