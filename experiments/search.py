"""Structure search of a KTG graph on Ray Tune: ``ktg_jax/cli/search.py`` (its docstring has the
usage), also installed as the ``ktg-search`` command. docs/cli.md: the
scripts' command line."""

from ktg_jax.cli import search

__doc__ = search.__doc__  # --help shows the command's own text

if __name__ == "__main__":
  search.cli()
