"""The command line: ``ktg-train``, ``ktg-search``, ``ktg-reproduce`` (and
``python experiments/<name>.py``, which call the same ``cli()``).

Every command and every script in ``experiments/`` follows one convention
(docs/cli.md, ``common``): ``--config`` (a config file: the protocol and the
data), ``--workdir`` (the run folder), ``--seeds`` (comma-separated, where
more than one seed is trained); a config field is changed with
``--config.FIELD=...`` and has no flag of its own. A bad invocation ends in
one line naming the file or the field, exit status 2.

The command modules (``train``, ``search``, ``reproduce``) define their absl
flags when they run (``define_flags``), so they import side by side.
"""
