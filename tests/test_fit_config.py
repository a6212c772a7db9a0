"""Typed configs: fit reads exactly FitConfig's fields and data.from_config
exactly DataConfig's, each out of one script ConfigDict."""

import glob
import json
import os
import re

import ml_collections
import pytest

from ktg_jax import classic, data
from ktg_jax.run import training
from ktg_jax.run.fit_config import FitConfig, config_fields, record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_field_is_read_by_the_run_package():
  # "fit takes only what it reads": each field is read as config.<field>
  # somewhere in ktg_jax/run/ (fit, its feeds, scoring, run files, meshes).
  source = "".join(open(p).read() for p in
                   glob.glob(os.path.join(ROOT, "ktg_jax", "run", "*.py"))
                   if not p.endswith("fit_config.py"))
  read = set(re.findall(r"\b(?:config|c)\.(\w+)", source))
  assert set(FitConfig._fields) - read == set()


def test_default_config_is_data_config_plus_models_plus_fit_config():
  cfg = training.default_config()
  assert not set(data.DataConfig._fields) & set(FitConfig._fields)
  assert set(cfg.keys()) == (set(data.DataConfig._fields) | {"models"}
                             | set(FitConfig._fields))
  assert FitConfig.of(cfg) == FitConfig()
  assert data.DataConfig.of(cfg) == data.DataConfig(dataset="cifar100")


def test_from_config_reads_the_data_fields_of_a_script_config():
  cfg = training.default_config()
  cfg.update(dataset="digits", limit=100, val_fraction=0.3, epochs=2)
  d = data.from_config(cfg)
  ref = data.load("digits", limit=100, val_fraction=0.3)
  assert d.name == "digits" and len(d.val.labels) == len(ref.val.labels) == 30
  assert (d.train.labels == ref.train.labels).all()
  with pytest.raises(ValueError, match=r"config\.limit=.*allowed: an int"):
    data.from_config({"dataset": "digits", "limit": "all"})


def test_of_keeps_fit_fields_and_drops_the_script_fields():
  script = ml_collections.ConfigDict(dict(dataset="digits", tau=0.95,
                                          epochs=4, learning_rate=1))
  run = FitConfig.of(script)
  assert (run.epochs, run.learning_rate) == (4, 1.0)
  assert isinstance(run.learning_rate, float)
  assert not hasattr(run, "tau") and not hasattr(run, "dataset")
  assert FitConfig.of(run) is run


@pytest.mark.parametrize("field,value,allowed", [
    ("epochs", 2.5, "an int"), ("verbose", "yes", "a bool"),
    ("population_strategy", 3, "a str or None"), ("batch_size", True, "an int")])
def test_a_wrong_type_names_the_field(field, value, allowed):
  with pytest.raises(ValueError, match=rf"config\.{field}=.*allowed: {allowed}"):
    FitConfig.of({field: value})


def test_none_fields_stay_settable_from_a_command_line():
  cfg = ml_collections.ConfigDict(config_fields())
  cfg.population_strategy = "vmap"   # a typed placeholder accepts a str
  with pytest.raises(TypeError):
    cfg.population_strategy = 3
  assert FitConfig.of(cfg).population_strategy == "vmap"


def test_fit_takes_a_fit_config_and_records_it(tmp_path):
  small = data.load("digits", limit=120)
  run = FitConfig(epochs=1, batch_size=32, verbose=False, pictures=False,
                  save_variables=False, checkpoint_every=0, seed=3)
  r = training.fit(classic.vanilla("small_cnn"), small, run, str(tmp_path))
  assert len(r.history) == 1
  recorded = record(run, seed=3)
  assert json.load(open(tmp_path / "config.json")) == recorded
