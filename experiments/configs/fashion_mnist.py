"""Fashion-MNIST on a CPU (the demo protocol; not a published one).

SGD + Nesterov, lr 0.05 half-cosine to 0 (003's schedule, docs/papers.md §5), weight
decay 5e-4, batch 64, random crop (pad 2) inside the step.
"""

from ktg_jax.run import training


def get_config():
  c = training.default_config()
  c.dataset = "fashion_mnist"
  c.models = "resnet8"
  c.epochs, c.batch_size = 10, 64
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.augment = True
  return c
