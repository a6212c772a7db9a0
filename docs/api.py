"""Builds the API reference from the docstrings: every module of ktg_jax
(pdoc documents only a package's ``__all__``, so they are listed here).

  python docs/api.py [OUTPUT_DIR]     # default docs/api; `make docs` runs it
"""

import os
import pkgutil
import sys

import pdoc

import ktg_jax


def modules() -> list[str]:
  names = ["ktg_jax"]
  for info in pkgutil.walk_packages(ktg_jax.__path__, "ktg_jax."):
    names.append(info.name)
  return sorted(names)


def main(out: str) -> None:
  pdoc.pdoc(*modules(), output_directory=pdoc.Path(out))
  print(f"API reference: {os.path.join(out, 'index.html')} "
        f"({len(modules())} modules)")


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else
       os.path.join(os.path.dirname(os.path.abspath(__file__)), "api"))
