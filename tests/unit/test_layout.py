"""The package is layered the way data flows, from the model at the bottom (errors, settings, the
results contract, the catalogue) through data → codecs → metrics → probes → gate → engine →
report, to the pytest integration and the command line on top: no module imports a module of a
higher layer, and imports of the project's own modules sit at the top of each module (one inside a
function only where an optional dependency requires it, saying so)."""
import ast
import fnmatch
import os
import tomllib
from pathlib import Path

import codec_conformance
from codec_conformance.gate.thresholds import BUILTIN_DIR, ThresholdSet, candidates, known_metrics

PKG = Path(codec_conformance.__file__).parent
# the rooms of codec_conformance/, bottom first; a room may import its own layer's rooms only
# where the list below pairs them (none do), and any room of a lower layer
LAYERS = (
    {"errors", "progress"},
    {"settings", "results", "registry", "fetch", "__init__"},
    {"catalogue"},
    {"data"},
    {"codecs"},
    {"metrics"},
    {"probes"},
    {"gate"},
    {"engine"},
    {"report"},
    {"plugin"},
    {"suites", "cli"},
)
LAYER = {room: k for k, rooms in enumerate(LAYERS) for room in rooms}


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> list[tuple[ast.stmt, set[str]]]:
    """(statement, absolute names of the modules it imports) for every import of ``path``,
    relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.append((node, {a.name for a in node.names}))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from .. import plugin`` imports the subpackage as a name
            out.append((node, {mod} | {f"{mod}.{a.name}" for a in node.names}))
    return out


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "codec_conformance":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _own_modules() -> list[Path]:
    return [p for p in sorted(PKG.rglob("*.py")) if "lyra_v2" not in p.parts]


def test_every_room_has_a_layer():
    rooms = {_room(".".join(_module_name(p))) for p in _own_modules()}
    assert rooms - {None} <= set(LAYER), f"rooms without a layer in LAYERS: {rooms - set(LAYER)}"


def test_no_module_imports_a_higher_layer():
    offenders = []
    for path in _own_modules():
        here = _room(".".join(_module_name(path)))
        for node, mods in _imports(path):
            for m in mods:
                there = _room(m)
                if there is None or there == here or there not in LAYER:
                    continue
                if LAYER[there] >= LAYER[here]:
                    offenders.append(f"{path.relative_to(PKG)}:{node.lineno} imports {m} ({there} is not below {here})")
    assert not offenders, "\n".join(sorted(set(offenders)))


def test_own_imports_sit_at_the_top_of_each_module():
    """An import of the project's own modules inside a function hides a layer problem; the only
    ones allowed wait for an optional third-party dependency, and say so (``# optional: ...``)."""
    offenders = []
    for path in _own_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                own = (isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                    "codec_conformance"))) or (isinstance(node, ast.Import) and any(
                    a.name.startswith("codec_conformance") for a in node.names))
                if own and "# optional:" not in lines[node.lineno - 1]:
                    offenders.append(f"{path.relative_to(PKG)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not offenders, "\n".join(offenders)


def test_relative_imports_are_resolved():
    mods = set().union(*(m for _, m in _imports(PKG / "engine" / "scorer.py")))
    assert any(m.startswith("codec_conformance.metrics") for m in mods), mods
    assert "codec_conformance.results.contract" in set().union(*(m for _, m in _imports(PKG / "catalogue.py")))


# ---------------------------------------------------------------- the repository's top level
ROOT = PKG.parent


def _repo_files(pattern: str) -> list[Path]:
    """Files of the repository matching ``pattern`` (not the virtual environment, caches, run
    folders or build output)."""
    skip = {"reports", "build", "dist", "node_modules", "__pycache__"}
    out = []
    for d, dirs, names in os.walk(ROOT):
        dirs[:] = [x for x in dirs if not x.startswith(".") and x not in skip and not x.endswith(".egg-info")]
        out += [Path(d) / n for n in names if fnmatch.fnmatch(n, pattern)]
    return out


def test_the_shipped_limits_live_once_in_the_top_level_thresholds_folder_and_load():
    """Issue 26 item 2: the design card's top level (pyproject.toml, conftest.py, codec_conformance/,
    suites/, thresholds/, reports/, tests/); thresholds/ is the one place the shipped limits are
    kept and edited, packaged from there as codec_conformance.thresholds (not a second copy inside
    the package), and they load."""
    for name in ("pyproject.toml", "conftest.py", "codec_conformance", "suites", "thresholds", "tests"):
        assert (ROOT / name).exists(), name
    shipped = sorted((ROOT / "thresholds").glob("*.toml"))
    assert {f.name for f in shipped} >= {"default.toml", "opus.toml", "lyra.toml"}
    assert BUILTIN_DIR == ROOT / "thresholds"  # run from the checkout: its own folder
    tomls = [f for f in _repo_files("*.toml") if f != ROOT / "pyproject.toml"]
    assert sorted(tomls) == shipped  # no second copy anywhere (e.g. codec_conformance/gate/builtin_thresholds)
    for f in shipped:
        ThresholdSet.load(f, known_metrics())
    # packaged from there: package-dir maps codec_conformance.thresholds to the folder, with its files
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {"codec_conformance.thresholds": "thresholds"}
    assert (ROOT / "thresholds" / "__init__.py").is_file()
    assert all(any(fnmatch.fnmatch(f.name, g) for g in tool["package-data"]["codec_conformance.thresholds"])
               for f in shipped)
    assert not any("thresholds" in g for g in tool["package-data"]["codec_conformance"])
    # every package of the library is listed (the list is explicit because of the mapping)
    found = sorted(".".join(d.relative_to(ROOT).parts) for d in [PKG, *PKG.rglob("*")]
                   if d.is_dir() and (d / "__init__.py").is_file())
    assert sorted(tool["packages"]) == sorted([*found, "codec_conformance.thresholds"])


def test_the_project_folder_that_is_the_shipped_one_is_read_once():
    """In this repository the project's thresholds/ (--codec-thresholds-dir, default thresholds)
    is the shipped folder: each file is a candidate once, in the same order as elsewhere."""
    assert candidates("opus", ROOT / "thresholds") == [BUILTIN_DIR / "opus.toml", BUILTIN_DIR / "default.toml"]
    assert ThresholdSet.for_codec("opus", ROOT / "thresholds").path == BUILTIN_DIR / "opus.toml"
    assert ThresholdSet.for_codec("mycodec", ROOT / "thresholds").path == BUILTIN_DIR / "default.toml"
