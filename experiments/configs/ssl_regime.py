"""The self-supervised regime of issue 26 (docs/ssl_regime.md), chosen on the
validation split only (experiments/ssl_pilot.py).

Fashion-MNIST, the first 10,000 training images: 8,000 train (the KNN bank,
un-augmented) and 2,000 validation queries; the official test split is not
read here. small_cnn (16 / 32 channels, 32-d pooled features), 32 epochs of
batch 256 = 992 steps.

Departures from solo-learn's CIFAR SimCLR (``simclr.yaml``: ResNet-18, LARS
lr 0.4 x B/256, wd 1e-5, 10 warm-up epochs of 1,000, T 0.2, projector
2048 -> 256, crop 0.08-1, jitter 0.4/0.4/0.2/0.1 p 0.8, grayscale p 0.2, no
blur) and why (measured numbers in docs/ssl_regime.md):

- data / model / length: Fashion-MNIST, small_cnn, 992 steps — a 2-core CPU;
  a run costs 4-18 min there (resnet8 is 7x, small_cnn_w32 ~2x slower a step).
- SGD + Nesterov 0.9 instead of LARS: no LARS in ``ktg_jax.optim``; LARS
  serves large batches and 256 is small.
- lr 0.3 with linear warm-up over 10 % of the run, then half-cosine: solo-
  learn's 0.4-ish peak; 10 % because 1 % of 992 steps is 10 steps.
- wd 1e-4 (solo-learn 1e-5 with LARS, the KTG code 5e-4): the issue's 460-step
  measurement (76.2 vs 73.1 with the project's settings together).
- T 0.2 (solo-learn; SimCLR's CIFAR appendix 0.5) set on the learner string:
  val KNN 81.35 vs 80.25 at T 0.5.
- projector 256 -> 128 (solo-learn 2048 -> 256): CPU; every learner shares it.
- crop scale 0.2-1 (0.08-1): 28x28 images; a crop of 8 % is 8x8 pixels.
- colour: brightness / contrast 0.4 with p 0.8; saturation, hue and the
  grayscale step are no-ops on one channel and are dropped; blur off (as
  solo-learn / SimCLR on CIFAR).
- KNN: weighted cosine, k 20, T 0.07 (DINO) on the backbone features; also
  measured: k 200 / T 0.1 (5-8 points lower on every row) and the projector's
  output (higher for SimCLR, 82.2, and MoCo, lower for the others).

Validation KNN (%) in this regime, seed 0: SimCLR 81.35; untrained small_cnn
76.18 (3 seeds); raw pixels 79.40, centred 83.15 — SimCLR clears the untrained
network by 5.2 but raw pixels by only 1.95 (issue 26's 5-point bar: not met).
"""

from ktg_jax.run import training

LEARNER = "simclr:temperature=0.2"   # classic.ssl(c.models, LEARNER)


def get_config():
  c = training.default_config()
  c.dataset, c.models = "fashion_mnist", "small_cnn"
  c.learner = LEARNER   # the script's (ssl_pilot.py), not fit's
  c.limit, c.val_fraction = 10000, 0.2      # bank 8,000, 2,000 val queries
  c.epochs, c.batch_size, c.eval_batch_size = 32, 256, 1000
  c.learning_rate, c.lr_schedule = 0.3, "warmup_cosine:warmup=0.1"
  c.weight_decay, c.momentum, c.nesterov = 1e-4, 0.9, True
  c.views.a = c.views.b = "ssl:min_scale=0.2"
  c.eval_metric, c.knn_k, c.knn_temperature = "knn", 20, 0.07
  c.eval_every_epochs = 4
  c.checkpoint_every, c.save_variables, c.pictures = 4, False, False
  return c
