"""scikit-learn digits (8x8): seconds-long runs for tests and smoke checks."""

from ml_collections import config_dict

from ktg_jax import training


def get_config():
  c = training.default_config()
  c.dataset, c.val_fraction = "digits", 0.2
  # None by default, overridable from the command line (--config.limit=1000).
  c.data_dir = config_dict.placeholder(str)
  c.limit = config_dict.placeholder(int)
  c.models = "small_cnn"
  c.epochs, c.batch_size = 5, 32
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.augment = True
  c.keep_checkpoints = 1
  return c
