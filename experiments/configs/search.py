"""experiments/search.py's default training protocol: the small digits set,
4 epochs a trial, a cosine schedule, ``training.default_config()`` otherwise.
Any training config serves (``--config=configs/fashion_mnist.py``); a field
is changed with ``--config.FIELD=...`` (epochs, dataset, data_dir, limit,
labels_per_class, batch_size, learning_rate, lr_schedule, augment, seed: the
searcher's, the split's and every trial's)."""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset, c.epochs, c.lr_schedule = "digits", 4, "cosine"
  return c
