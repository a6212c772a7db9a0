"""Class names of the registered data sets, for legends and reports.

Example:
  >>> class_names("fashion_mnist")[:3]
  ['T-shirt/top', 'Trouser', 'Pullover']
  >>> class_names("fashion_pairs14")[12]   # pair label = 10 * left + right
  'Trouser|Pullover'
  >>> class_names("fractal", 3)
  ['class 0', 'class 1', 'class 2']
"""

from __future__ import annotations

FASHION_MNIST = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
           "horse", "ship", "truck")


def _pairs(base):
  return tuple(f"{a}|{b}" for a in base for b in base)


# data set name (data.SOURCES) -> class names; others get "class c".
CLASS_NAMES = {
    "fashion_mnist": FASHION_MNIST, "digits": DIGITS, "cifar10": CIFAR10,
    "fashion_pairs": _pairs(FASHION_MNIST),
    "fashion_pairs14": _pairs(FASHION_MNIST), "digits_pairs": _pairs(DIGITS),
    "fashion_placed36": FASHION_MNIST,   # Fashion-MNIST at random places
}


def class_names(name: str, num_classes: int | None = None) -> list[str]:
  """Names of data set ``name``'s classes in label order; ``"class c"`` for a
  data set without names (then ``num_classes`` says how many)."""
  if name in CLASS_NAMES:
    return list(CLASS_NAMES[name])
  if num_classes is None:
    raise ValueError(f"data set {name!r} has no class names "
                     f"(named: {sorted(CLASS_NAMES)}); pass num_classes")
  return [f"class {c}" for c in range(num_classes)]
