"""Self-supervised regime where the learners learn (issue 26; docs/ssl_regime.md).

PROVISIONAL: the pilot's base point; the chosen values and every departure
from solo-learn / the papers are stated in docs/ssl_regime.md once measured.
"""

from ktg_jax.run import training

LEARNER = "simclr:temperature=0.2"


def get_config():
  c = training.default_config()
  c.dataset, c.models = "fashion_mnist", "small_cnn"
  c.limit, c.val_fraction = 10000, 0.2      # bank 8,000, 2,000 val queries
  c.epochs, c.batch_size, c.eval_batch_size = 32, 256, 1000
  c.learning_rate, c.lr_schedule = 0.3, "warmup_cosine:warmup=0.1"
  c.weight_decay, c.momentum, c.nesterov = 1e-4, 0.9, True
  c.views.a = c.views.b = "ssl:min_scale=0.2"
  c.eval_metric, c.knn_k, c.knn_temperature = "knn", 20, 0.07
  c.eval_every_epochs = 4
  c.checkpoint_every, c.save_variables, c.pictures = 4, False, False
  return c
