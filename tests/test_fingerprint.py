"""The resume guard shared by the Ray search and the exhaustive sweep."""

import json

import pytest

from ktg_jax.search import fingerprint


def test_first_run_writes_then_same_settings_resume(tmp_path):
  path = str(tmp_path / "plan.json")
  fingerprint.check_or_write(path, {"epochs": 2, "gates": ("through",)}, "sweep")
  assert json.load(open(path)) == {"epochs": 2, "gates": ["through"]}
  # the same settings (tuples as lists after JSON) resume
  fingerprint.check_or_write(path, {"epochs": 2, "gates": ["through"]}, "sweep")


def test_a_field_added_later_with_none_default_still_resumes(tmp_path):
  path = str(tmp_path / "plan.json")
  fingerprint.check_or_write(path, {"config": {"epochs": 2}}, "sweep")
  fingerprint.check_or_write(path, {"config": {"epochs": 2, "new": None}},
                             "sweep")


def test_a_space_stored_before_crop_sizes_existed_still_resumes(tmp_path):
  from ktg_jax.search import presets
  space = presets.get("ch4", 2)._asdict()
  old = {k: v for k, v in space.items() if k != "crop_sizes"}
  path = str(tmp_path / "search.json")
  fingerprint.check_or_write(path, {"space": old}, "search")
  fingerprint.check_or_write(path, {"space": space}, "search")
  sized = dict(space, crop_sizes=(2, 3))   # a real crop choice is a change
  with pytest.raises(ValueError, match=r"space\.crop_sizes: None -> \[2, 3\]"):
    fingerprint.check_or_write(path, {"space": sized}, "search")


def test_a_changed_field_is_named_with_both_values(tmp_path):
  path = str(tmp_path / "plan.json")
  fingerprint.check_or_write(path, {"config": {"epochs": 2, "lr": 0.1}},
                             "search")
  with pytest.raises(KeyError, match=r"config\.epochs: 2 -> 3"):
    fingerprint.check_or_write(path, {"config": {"epochs": 3, "lr": 0.1}},
                               "search", KeyError)
  with pytest.raises(ValueError, match=r"config\.extra: None -> 'x'"):
    fingerprint.check_or_write(
        path, {"config": {"epochs": 2, "lr": 0.1, "extra": "x"}}, "search")


def test_normalize_compares_what_both_sides_mean(tmp_path):
  path = str(tmp_path / "plan.json")
  full = lambda fp: {"config": {"lr": 0.1, **fp["config"]}}  # defaults
  fingerprint.check_or_write(path, {"config": {"epochs": 2}}, "search")
  fingerprint.check_or_write(path, {"config": {"epochs": 2, "lr": 0.1}},
                             "search", normalize=full)
  with pytest.raises(ValueError, match=r"config\.lr: 0\.1 -> 0\.2"):
    fingerprint.check_or_write(path, {"config": {"epochs": 2, "lr": 0.2}},
                               "search", normalize=full)
