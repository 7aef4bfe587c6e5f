"""Evaluator files that cannot run code (issue 29, item 1).

The paper's evaluators come as downloaded files that their libraries can turn into code:

- speechbrain's ``hyperparams.yaml`` is HyperPyYAML, whose tags ``!new:``, ``!name:``, ``!apply:``,
  ``!module:`` and ``!include:`` import and call any Python callable (``!apply:os.system``);
- funasr's ``config.yaml`` can set ``trust_remote_code`` and ``remote_code`` (funasr then imports
  a ``.py`` file, and pip-installs a ``requirements.txt``) or name VAD, punctuation and speaker
  models that funasr downloads from a hub;
- ``.pt``/``.ckpt`` checkpoints are pickles, and full unpickling runs code.

Each gate here runs *before* the library is imported or called and refuses, with one
:class:`EvaluatorFileRefused` naming the file, the tag/key/callable and the fix, anything outside
what the published model needs: HyperPyYAML tags other than ``!new:`` of the six speechbrain
classes the published ECAPA model (``speechbrain/spkrec-ecapa-voxceleb``) uses, ``!ref``,
``!copy`` and ``!tuple``; Pretrainer paths other than ``!ref <pretrained_path>/<file>``; funasr
configs with remote code, sub-models or paths out of the folder; a model folder holding Python
code or a requirements file; a checkpoint that does not load with ``torch.load(weights_only=True)``
(a weights-only load succeeds only for a pickle that references tensors and plain containers,
so the library's own load of that file cannot run code either).

``--codec-trust-evaluators`` turns every gate off (files you trust: your own fine-tuned
models). It is separate from ``--codec-trust-checkpoint``, which is for the codec under test.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConformanceError

TRUST_FLAG = "--codec-trust-evaluators"
MAX_CONFIG_BYTES = 1 << 20   # a hyperparameter/config file larger than this is not a published one

# The callables of speechbrain/spkrec-ecapa-voxceleb's hyperparams.yaml (features, the two
# normalisations, the ECAPA-TDNN trunk, its classifier head, the label encoder, the pretrainer):
# every tag it has is one of these ``!new:`` or a ``!ref``; it has no ``!apply:`` or ``!name:``.
SPEECHBRAIN_CALLABLES = frozenset({
    "speechbrain.lobes.features.Fbank",
    "speechbrain.processing.features.InputNormalization",
    "speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN",
    "speechbrain.lobes.models.ECAPA_TDNN.Classifier",
    "speechbrain.dataio.encoder.CategoricalEncoder",
    "speechbrain.utils.parameter_transfer.Pretrainer",
})
_PRETRAINER = "speechbrain.utils.parameter_transfer.Pretrainer"
_YAML_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}
_DATA_TAGS = {"!ref", "!copy", "!tuple"}
_PRETRAINED_PATH_REF = re.compile(r"<pretrained_path>/[A-Za-z0-9_.-]+")
# files that are (or install) code, refused in an evaluator's model folder
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".dylib", ".dll", ".sh")
_CODE_NAMES = ("requirements.txt", "setup.py", "pyproject.toml")
# funasr config keys that make it import code (remote_code) or build a model fetched from a hub
_FUNASR_KEYS = ("trust_remote_code", "remote_code", "vad_model", "punc_model", "spk_model")
# what the published emotion2vec config names: its model class (funasr's registry holds hundreds,
# some of which eval() their own config strings), its tokenizer, and no frontend
FUNASR_MODELS = frozenset({"Emotion2vec"})
FUNASR_TOKENIZERS = frozenset({"CharTokenizer"})
# config strings funasr passes to eval(): emotion2vec's audio encoder evaluates
# ``modalities.audio.feature_encoder_spec`` (funasr/models/emotion2vec/audio.py), published as
# '[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]'
_EVALUATED_KEYS = ("feature_encoder_spec", "conv_feature_layers")
MAX_SPEC_LAYERS = 100


class EvaluatorFileRefused(ConformanceError):
    """An evaluator file that could run code, refused before its library saw it."""


def _refuse(path: Path, what: str) -> EvaluatorFileRefused:
    return EvaluatorFileRefused(
        f"{path}: {what}. Refused before the library loaded it: a downloaded evaluator file must not run code. "
        f"Replace the folder with the published model's files (delete it to download them again), or, if you "
        f"trust this file, pass {TRUST_FLAG}")


# ------------------------------------------------------------------------------ folders
def check_no_code(folder: Path) -> None:
    """Refuses a model folder that holds Python code, a native library or a requirements file."""
    n = 0
    for p in sorted(Path(folder).rglob("*")):
        n += 1
        if n > 10_000:
            break
        if p.name.lower() in _CODE_NAMES or p.suffix.lower() in _CODE_SUFFIXES:
            raise _refuse(p, "a model folder holding code (a library may import or install it)")


# ------------------------------------------------------------------------------ checkpoints
def check_weights_only(path: Path) -> None:
    """Refuses a checkpoint that does not load as weights only (tensors, numbers, strings and
    plain containers): anything else in a pickle can run code when fully unpickled."""
    import torch
    try:
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:   # a legacy (non-zip) checkpoint cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError...: all mean "not weights only"
        raise _not_weights(path, exc) from None


def load_weights_only(path: Path, trusted: bool) -> Any:
    """``torch.load`` of ``path`` on the CPU: weights only unless ``trusted``; a refusal names
    the file and the global that is not allowed."""
    import torch
    if trusted:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise _not_weights(path, exc) from None


def _not_weights(path: Path, exc: BaseException) -> EvaluatorFileRefused:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    detail = next((line for line in lines if "GLOBAL" in line or line.startswith("Unsupported")),
                  lines[0] if lines else type(exc).__name__)
    return _refuse(path, f"a checkpoint that does not load as weights only ({detail[:300]}); fully unpickling it "
                         "could run code")


# ------------------------------------------------------------------------------ speechbrain
def _read_config(path: Path) -> str:
    if not path.is_file():
        raise EvaluatorFileRefused(f"{path} is missing")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise _refuse(path, f"a configuration file of {path.stat().st_size} bytes (at most {MAX_CONFIG_BYTES})")
    return path.read_text(encoding="utf-8", errors="replace")


def _compose(path: Path, text: str):
    """The YAML node tree (composed, never constructed: no tag is acted on)."""
    import yaml
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _refuse(path, f"not readable YAML ({str(exc).splitlines()[0]})") from None


def _nodes(root: Any) -> Iterator[tuple[Any, str]]:
    """Every node once (aliases shared), with the key path that leads to it."""
    import yaml
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node, where
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else "?"
                stack.append((k, where))
                stack.append((v, f"{where}.{key}" if where else str(key)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node.value))


def check_hyperparams(path: Path) -> None:
    """Refuses a speechbrain ``hyperparams.yaml`` with a tag that is not one the published ECAPA
    model uses, or a Pretrainer path that is not a file of the model folder."""
    path = Path(path)
    root = _compose(path, _read_config(path))
    allowed = ", ".join(sorted(SPEECHBRAIN_CALLABLES))
    for node, where in _nodes(root):
        tag = node.tag or ""
        line = node.start_mark.line + 1
        at = f"{where or 'the top level'} (line {line})"
        if tag in _YAML_TAGS or tag in _DATA_TAGS:
            if tag in ("!ref", "!copy") and "**" in str(node.value):
                raise _refuse(path, f"{at}: a {tag} expression with ** (a power can take any time or memory)")
            continue
        if tag.startswith(("!new:", "!name:")):
            kind, _, target = tag.partition(":")
            if kind == "!new" and target in SPEECHBRAIN_CALLABLES:
                if target == _PRETRAINER:
                    _check_pretrainer(path, node, at)
                continue
            raise _refuse(path, f"{at}: tag {tag} calls {target}, which is not one of the speechbrain classes "
                                f"the published ECAPA model uses ({allowed})")
        if tag.startswith(("!apply:", "!applyref:", "!module:", "!include:")):
            raise _refuse(path, f"{at}: tag {tag} ({tag.split(':', 1)[0]} imports or calls "
                                f"{tag.split(':', 1)[1] or 'a file'}; the published ECAPA model uses none)")
        raise _refuse(path, f"{at}: tag {tag} is not one HyperPyYAML's published ECAPA model uses "
                            "(!new: of its classes, !ref, !copy, !tuple)")


def _check_pretrainer(path: Path, node, at: str) -> None:
    import yaml
    if not isinstance(node, yaml.MappingNode):
        return
    for k, v in node.value:
        if getattr(k, "value", None) != "paths" or not isinstance(v, yaml.MappingNode):
            continue
        for name, target in v.value:
            ok = (isinstance(target, yaml.ScalarNode) and target.tag == "!ref"
                  and _PRETRAINED_PATH_REF.fullmatch(str(target.value).strip()) is not None
                  and ".." not in str(target.value))
            if not ok:
                raise _refuse(path, f"{at}: Pretrainer path {name.value!r} is {target.tag} "
                                    f"{getattr(target, 'value', '')!r}, not !ref <pretrained_path>/<file> (a file of "
                                    "the model folder); another path could fetch files from elsewhere")


def check_speechbrain_dir(model_dir: str | Path, trusted: bool = False) -> None:
    """The gate run before speechbrain loads ``model_dir`` (nothing is checked when trusted)."""
    if trusted:
        return
    d = Path(model_dir)
    check_no_code(d)
    check_hyperparams(d / "hyperparams.yaml")
    for ckpt in sorted(d.glob("*.ckpt")):
        check_weights_only(ckpt)


# ------------------------------------------------------------------------------ funasr
def _check_funasr_config(path: Path, folder: Path) -> None:
    import yaml
    text = _read_config(path)
    for node, where in _nodes(_compose(path, text)):
        if (node.tag or "") not in _YAML_TAGS:
            raise _refuse(path, f"{where or 'the top level'} (line {node.start_mark.line + 1}): tag {node.tag} "
                                "(a funasr config is plain YAML)")
    cfg = yaml.safe_load(text)
    if not isinstance(cfg, dict):
        raise _refuse(path, "not a mapping of settings")
    for key in _FUNASR_KEYS:
        if key in cfg and cfg[key] not in (None, False, "", {}):
            raise _refuse(path, f"key {key!r} = {cfg[key]!r} (funasr would import code, or build a model it "
                                "fetches from a hub)")
    if cfg.get("model") not in FUNASR_MODELS:
        raise _refuse(path, f"key 'model' = {cfg.get('model')!r}: funasr would build that class; the published "
                            f"emotion2vec model is {', '.join(sorted(FUNASR_MODELS))}")
    if cfg.get("tokenizer") not in (None, *FUNASR_TOKENIZERS):
        raise _refuse(path, f"key 'tokenizer' = {cfg.get('tokenizer')!r}: the published emotion2vec model uses "
                            f"{', '.join(sorted(FUNASR_TOKENIZERS))}")
    if cfg.get("frontend") not in (None, ""):
        raise _refuse(path, f"key 'frontend' = {cfg.get('frontend')!r}: the published emotion2vec model has none")
    if not (folder / "tokens.txt").is_file():  # with it, funasr reads the folder's tokens.txt whatever the config says
        _paths_inside(path, folder, cfg.get("tokenizer_conf"), "tokenizer_conf")
    for where, value in _keys_named(cfg, _EVALUATED_KEYS):
        if not _is_layer_spec(value):
            raise _refuse(path, f"{where} = {value!r}: funasr passes this string to eval(); only a list of "
                                "(channels, kernel, stride) integer tuples joined by + and * is accepted, e.g. "
                                "'[(512, 10, 5)] + [(512, 3, 2)] * 4'")


def _keys_named(value, names: tuple[str, ...], where: str = "") -> Iterator[tuple[str, Any]]:
    """(key path, value) of every key in ``names`` at any depth of a loaded config."""
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{where}.{k}" if where else str(k)
            if k in names:
                yield here, v
            yield from _keys_named(v, names, here)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _keys_named(v, names, f"{where}[{i}]")


def _is_layer_spec(text: Any) -> bool:
    """Whether ``text`` is a conv-layer spec: a list of integer tuples, built with list
    literals, ``+`` of lists and ``*`` of a list by an integer, at most MAX_SPEC_LAYERS layers
    (nothing a Python eval() of it could call, look up, import, or blow up in memory)."""
    import ast
    if not isinstance(text, str) or len(text) > 2000:
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return False

    class Bad(Exception):
        pass

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value <= 100_000:
            return node.value
        if isinstance(node, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.List):
            out = [value(e) for e in node.elts]
            if not all(isinstance(e, tuple) for e in out):
                raise Bad()
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add) and isinstance(a, list) and isinstance(b, list):
                out = a + b
            elif isinstance(node.op, ast.Mult) and isinstance(a, list) and isinstance(b, int) \
                    and len(a) * b <= MAX_SPEC_LAYERS:
                out = a * b
            else:
                raise Bad()
            if len(out) > MAX_SPEC_LAYERS:
                raise Bad()
            return out
        raise Bad()
    try:
        return isinstance(value(tree.body), list)
    except Bad:
        return False


def _paths_inside(path: Path, folder: Path, value, where: str = "") -> None:
    """Refuses a string that names a file outside ``folder`` (absolute, ``..``) or a URL."""
    if isinstance(value, dict):
        for k, v in value.items():
            _paths_inside(path, folder, v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _paths_inside(path, folder, v, f"{where}[{i}]")
    elif isinstance(value, str) and ("://" in value or (value.startswith(("/", "~")) and len(value) > 1)
                                     or ".." in Path(value).parts):
        raise _refuse(path, f"{where}: {value!r} points outside the model folder {folder}")


def check_funasr_dir(model_dir: str | Path, trusted: bool = False) -> None:
    """The gate run before funasr loads ``model_dir`` (nothing is checked when trusted). The
    caller also passes funasr ``trust_remote_code=False``, no sub-models and the folder's own
    ``model.pt``, which win over the config's values."""
    if trusted:
        return
    d = Path(model_dir)
    check_no_code(d)
    _check_funasr_config(d / "config.yaml", d)
    conf_json = d / "configuration.json"
    if conf_json.is_file():  # modelscope layout: funasr reads it first, and the config it names
        try:
            meta = json.loads(_read_config(conf_json))
        except ValueError as exc:
            raise _refuse(conf_json, f"not readable JSON ({exc})") from None
        _paths_inside(conf_json, d, meta)
        for key in _FUNASR_KEYS:
            if isinstance(meta, dict) and meta.get(key) not in (None, False, "", {}):
                raise _refuse(conf_json, f"key {key!r} = {meta[key]!r}")
        config = (meta.get("file_path_metas") or {}).get("config") if isinstance(meta, dict) else None
        if isinstance(config, str) and config != "config.yaml":
            _check_funasr_config(d / config, d)
    for ckpt in sorted(d.glob("*.pt")):
        check_weights_only(ckpt)
