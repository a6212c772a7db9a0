"""experiments/refine.py: 003's design-space refinement (docs/papers.md §5).

``--config=configs/refine003.py`` is the CPU scale (digits, small models, a
few epochs); ``--config=configs/refine003.py:cifar100`` is 003's protocol: the
ch.3 optimizer with a half-cosine schedule to 0, 100 epochs while searching,
200 for the final runs; ResNet32 / WRN28-2; 2,500 random graphs; X with 5
repeats (003 reads three random searches of 2,500; this script reads one).

Fields beside ``training.default_config()``'s: the space A (``target_model``,
``aux_models``, ``gates``), ``final_epochs``, ``num_random`` (graphs of the
random search on A), ``asha_trials``, ``search_seeds`` (the seeds each graph
of X is trained with; the final runs' are ``--seeds``), ``floor`` (EDF: graphs
with accuracy <= floor left out; 003: 2 % = 2x chance on CIFAR-100, 10
classes: 0.2), ``pack_size`` (graphs of one structure per fit), ``stages``.
``seed`` is the sampler's, the searcher's and the split's.
"""

from ktg_jax.run import training


def get_config(scale: str = "cpu"):
  c = training.default_config()
  c.dataset = "digits"
  # Lists are comma-separated strings (like ``models``), so that
  # --config.gates=through,linear works on the command line.
  c.target_model, c.aux_models = "small_cnn", "small_cnn,resnet8"
  c.gates = "through,cutoff,linear"  # 003's three
  c.epochs, c.final_epochs, c.batch_size = 3, 6, 32
  c.learning_rate, c.lr_schedule, c.lr_boundaries = 0.05, "cosine", ()
  c.weight_decay, c.augment = 5e-4, True
  c.keep_checkpoints, c.verbose = 1, False
  c.num_random, c.asha_trials = 60, 30
  c.search_seeds = "0,1"
  c.floor, c.pack_size = 0.2, 8
  c.stages = "random,edf,x,asha,final"
  if scale == "cifar100":  # 003's own protocol (docs/papers.md §5, §6)
    c.dataset, c.floor = "cifar100", 0.02
    c.target_model, c.aux_models = "resnet32", "resnet32,wrn28_2"
    c.epochs, c.final_epochs, c.batch_size = 100, 200, 64
    c.learning_rate, c.momentum, c.nesterov = 0.1, 0.9, True
    c.num_random, c.asha_trials, c.search_seeds = 2500, 1500, "0,1,2,3,4"
  elif scale != "cpu":
    raise ValueError(f"refine003.py:{scale}; allowed: cpu, cifar100")
  return c
