"""The shipped pass/fail limits: one ``<codec>.toml`` per reference codec and ``default.toml`` for
any other codec (format: :mod:`codec_conformance.gate.thresholds`). This folder is the one place
they are kept and edited; it is packaged as ``codec_conformance.thresholds`` (pyproject.toml's
``[tool.setuptools.package-dir]``). A project's own ``thresholds/`` folder (``--codec-thresholds-dir``)
overrides them file by file; in this repository the two are the same folder."""
