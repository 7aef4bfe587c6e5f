"""Project-level conftest. The plugin itself is registered through the ``pytest11`` entry point
(``codec_conformance.plugin.hooks``), so an installed package brings it to any repository."""
