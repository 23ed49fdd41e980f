"""The ``burnish`` command line: one module per command, errors rendered once in ``app``."""
