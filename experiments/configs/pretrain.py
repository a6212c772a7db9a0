"""experiments/pretrain.py: one node trained alone on a *source* data set,
whose variables then initialise a pre-trained node (002). The source is
``dataset`` (``ktg_jax.data.SOURCES``), its whole training split
(``val_fraction`` 0), scored on the source's test split; ``models`` is the
node's model, ``seed`` its init, data order and split; ``image_size`` resizes
the source to the target's (e.g. 8 for the digits)."""

from ml_collections import config_dict

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset, c.models, c.val_fraction = "fractal", "small_cnn", 0.0
  c.epochs, c.batch_size = 3, 64
  c.learning_rate, c.lr_schedule = 0.05, "cosine"
  c.eval_split, c.augment, c.pictures = "test", False, False
  c.image_size = config_dict.placeholder(int)
  return c
