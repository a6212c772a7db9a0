"""Thesis ch.4 (ensemble KTG) CIFAR protocol (docs/papers.md §5): momentum SGD lr 0.1,
weight decay 1e-4, batch 16, 300 epochs, lr x0.1 at 150 and 225."""

from ktg_jax.run import training


def get_config(dataset: str = "cifar100"):
  c = training.default_config()
  c.dataset = dataset
  c.epochs, c.batch_size = 300, 16
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.1, "step", (0.5, 0.75)
  c.weight_decay, c.momentum, c.nesterov = 1e-4, 0.9, False
  c.augment = True
  return c
