"""scikit-learn digits (8x8): seconds-long runs for tests and smoke checks."""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset = "digits"
  c.models = "small_cnn"
  c.epochs, c.batch_size = 5, 32
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.augment = True
  c.keep_checkpoints = 1
  return c
