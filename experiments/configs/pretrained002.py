"""experiments/pretrained_graphs.py (002 Table 1 at reduced scale): three
``models`` nodes, all edges Through, trained on the whole training split of
``dataset`` (``val_fraction`` 0) and tested once per seed."""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset, c.models, c.val_fraction = "digits", "small_cnn", 0.0
  c.epochs, c.batch_size = 6, 32
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.augment, c.eval_split = True, "test"
  c.checkpoint_every, c.save_variables = 0, False
  c.pictures, c.verbose = False, False
  return c
