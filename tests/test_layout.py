"""The package is layered the way data flows: the pytest integration (``plugin/``, the suites)
and the command line sit on top, and nothing below them imports them."""
import ast
from pathlib import Path

import codec_conformance

PKG = Path(codec_conformance.__file__).parent
# the front ends: they may import the plugin, nothing else may
TOP = {"plugin", "suites"}
FRONT_END_MODULES = {"cli.py"}  # the command line spells options as the plugin does (settings.flag)


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            # ``from .. import plugin`` imports the subpackage as a name
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _below_the_plugin() -> list[Path]:
    files = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] in TOP or str(rel) in FRONT_END_MODULES:
            continue
        files.append(path)
    return files


def test_the_walk_sees_the_layers():
    names = {str(p.relative_to(PKG)) for p in _below_the_plugin()}
    assert {"metrics/asr.py", "results/records.py", "gate/thresholds.py", "catalogue.py"} <= names
    assert not any(n.startswith(("plugin/", "suites/")) for n in names)


def test_relative_imports_are_resolved():
    p = PKG / "plugin" / "scorer.py"
    mods = _imported_modules(p)
    assert any(m.startswith("codec_conformance.metrics") for m in mods), mods


def test_nothing_below_the_plugin_imports_the_plugin():
    offenders = {}
    for path in _below_the_plugin():
        bad = sorted(m for m in _imported_modules(path)
                     if m == "codec_conformance.plugin" or m.startswith("codec_conformance.plugin."))
        if bad:
            offenders[str(path.relative_to(PKG))] = bad
    assert not offenders, f"modules below the pytest integration import it: {offenders}"


def test_nothing_below_the_command_line_imports_it():
    """The command line sits on top: the report (its compare page) takes compare's vocabulary from
    gate/baseline.py, not from cli.py (no import circle)."""
    offenders = sorted(str(p.relative_to(PKG)) for p in _below_the_plugin()
                       if "codec_conformance.cli" in _imported_modules(p))
    assert not offenders, f"modules below the command line import it: {offenders}"
    assert "report/compare.py" in {str(p.relative_to(PKG)) for p in _below_the_plugin()}
