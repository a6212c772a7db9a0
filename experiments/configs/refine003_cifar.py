"""003 (design-space refinement) protocol (docs/papers.md §5): the ch.3 optimizer with a
half-cosine schedule to 0; 100 epochs while searching (200 for the final space:
``--config.epochs=200``)."""

from ktg_jax.run import training


def get_config(dataset: str = "cifar100"):
  c = training.default_config()
  c.dataset = dataset
  c.epochs, c.batch_size = 100, 64
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.1, "cosine", ()
  c.weight_decay, c.momentum, c.nesterov = 5e-4, 0.9, True
  c.augment = True
  return c
