"""The README quickstart's settings (examples/quickstart.py): fractal data,
20 epochs, cosine learning rate; seconds per epoch on a CPU."""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset = "fractal"
  c.models = "small_cnn"
  c.epochs, c.batch_size, c.lr_schedule = 20, 64, "cosine"
  c.keep_checkpoints = 1
  return c
