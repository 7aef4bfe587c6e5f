"""Per-bitrate pass/fail thresholds.

File format (``thresholds/<codec>.toml``; ``thresholds/default.toml`` for any codec without its
own file)::

    [meta]
    source = "where the numbers come from"

    [default.noise.white]             # any bitrate not listed below
    pesq = { max_delta = -1.5 }       # delta = codec - oracle; direction from the metric

    [bitrate."64".frequency_response.sweep]
    mid_band_ripple_db = { max_value = 6.0 }

Suites and their condition keys are what the suites declare (``SuiteInfo.keys()``, see
:mod:`codec_conformance.catalogue`): ``noise`` (clean, white, ambient, reverb and any plugin
condition kind), ``additivity`` (speech_speech, speech_noise), ``homogeneity`` (gain),
``frequency_response`` (sweep), ``tokens`` (white, ambient, reverb, gain, shift, determinism),
``implementation`` (batch, batch_padded, length, chunked, chunked_decode, repeat, fresh_process). Limit
kinds: ``max_delta`` (the largest allowed degradation against the oracle: for a
higher-is-better metric delta >= limit, else delta <= limit), ``min_value``, ``max_value``, or
both of the last two in one table (``{ min_value = -25.0, max_value = -17.0 }``: a range, for
two-sided quantities such as the low-band boost, where a larger cut is as wrong as a boost).

Where a codec's limits come from, first found wins: ``--codec-thresholds FILE``; the project's
``thresholds/<codec>.toml``; the file shipped with the package (the repository's top-level
``thresholds/``, installed as ``codec_conformance.thresholds``: the reference codecs and
``default.toml``); the project's ``thresholds/default.toml``; the shipped ``default.toml``. So a run
from any repository is gated, and a project's own files override. In this repository the project's
folder and the shipped one are the same folder: each file is looked at once.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from ..catalogue import gated_names, info, suites
from ..errors import ThresholdError, check_regular_file

KINDS = {"max_delta", "min_value", "max_value"}
RANGE = frozenset({"min_value", "max_value"})


def builtin_dir() -> Path:
    """The folder of the shipped limits: the repository's ``thresholds/`` when this package runs
    from its source tree (a checkout on PYTHONPATH, or an editable install of it: the folder next
    to ``codec_conformance/``, so a checkout never reads another checkout's limits), else the
    installed package ``codec_conformance.thresholds`` (a wheel; pyproject's package-dir)."""
    source = Path(__file__).resolve().parents[2]
    if (source / "pyproject.toml").is_file() and (source / "thresholds" / "__init__.py").is_file():
        return source / "thresholds"
    return Path(str(files("codec_conformance.thresholds")))


BUILTIN_DIR = builtin_dir()


def known_metrics() -> set[str]:
    """Every metric key a thresholds file may name: the gated quantities of the catalogue (the
    registered metrics, SI-SDR excepted, and the suites' own measurements)."""
    return gated_names()


def suite_keys() -> dict[str, set[str]]:
    """suite -> the condition keys its thresholds tables may use (what each suite declares)."""
    return {name: s.keys() for name, s in suites().items()}


@dataclass(frozen=True)
class Threshold:
    kind: str                    # max_delta | min_value | max_value | range
    limit: float                 # for a range: its lower end
    source: str
    upper: float | None = None   # a range's upper end

    def check(self, value, delta, higher_is_better: bool) -> bool | None:
        if self.kind == "max_delta":
            if delta is None:
                return None
            return delta >= self.limit if higher_is_better else delta <= self.limit
        if value is None:
            return None
        if self.kind == "range":
            return self.limit <= value <= self.upper
        return value >= self.limit if self.kind == "min_value" else value <= self.limit

    def cannot_fail(self, bounds: tuple[float, float], higher_is_better: bool, oracle: float | None = None,
                    label: str = "the value") -> str | None:
        """Why no value inside ``bounds`` (the quantity's declared range) can fail this limit, or
        None when one can. A ``max_delta`` limit is judged at this ``oracle`` when given, else
        for every oracle inside the range (delta = value - oracle spans +-(highest - lowest))."""
        lo, hi = bounds
        span = f"{label} lies in [{lo:g}, {hi:g}]"
        if self.kind == "max_delta":
            if oracle is None:
                worst = lo - hi if higher_is_better else hi - lo
                if (self.limit <= worst) if higher_is_better else (self.limit >= worst):
                    return f"{span}, so codec - oracle is never {'below' if higher_is_better else 'above'} {worst:g}"
                return None
            bound = oracle + self.limit
            if (bound <= lo) if higher_is_better else (bound >= hi):
                return (f"the bound oracle {oracle:.4g} {self.limit:+.4g} = {bound:.4g} is "
                        f"{'at or below its lowest' if higher_is_better else 'at or above its highest'} value: {span}")
            return None
        low = -math.inf if self.kind == "max_value" else self.limit
        high = math.inf if self.kind == "min_value" else self.limit if self.upper is None else self.upper
        if low <= lo and high >= hi:
            return f"{span}, all of it inside {self.text()}"
        return None

    def to_record(self) -> dict:
        out = {"kind": self.kind, "limit": self.limit, "source": self.source}
        if self.kind == "range":
            out["upper"] = self.upper
        return out

    def text(self) -> str:
        return limit_text(self.to_record())


def limit_text(th: dict) -> str:
    """A record's threshold as text: ``max_delta=-0.5`` or ``range [-25, -17]`` (a value that is
    not a number, from a crafted file, is shown as it is)."""
    g = (lambda v: f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
    if th.get("kind") == "range":
        return f"range [{g(th.get('limit'))}, {g(th.get('upper'))}]"
    return f"{th.get('kind')}={g(th.get('limit'))}"


class ThresholdSet:
    def __init__(self, path: Path | None, table: dict, metrics: set[str] | None = None):
        self.path = path
        self.source = str(path) if path else "none"
        self.table = table
        self._validate(metrics)

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, metrics: set[str] | None = None) -> "ThresholdSet":
        p = Path(path)
        if p.is_dir():
            raise ThresholdError(f"thresholds file {p} is a directory; give a .toml file "
                                 "(a folder of per-codec files is --codec-thresholds-dir)")
        check_regular_file(p, ThresholdError, "a thresholds .toml file")
        try:
            table = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ThresholdError(f"thresholds file not found: {p}") from None
        except UnicodeDecodeError:
            raise ThresholdError(f"{p}: not a UTF-8 text file; a thresholds file is TOML") from None
        except OSError as exc:
            raise ThresholdError(f"cannot read thresholds file {p}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ThresholdError(f"{p}: not valid TOML: {exc}") from None
        except RecursionError:  # [[[[...]]]] or {a={a=...}} thousands deep
            raise ThresholdError(f"{p}: {_nested_key(p)}arrays or inline tables nested too deeply to read; "
                                 "a thresholds file is tables of { max_delta = -0.5 }-style limits") from None
        except ValueError as exc:  # an integer of more digits than Python converts (4300)
            raise ThresholdError(f"{p}: {_huge_key(p)}{exc}; a limit is a number like -0.5") from None
        return cls(p, table, metrics)

    @classmethod
    def for_codec(cls, codec: str | list[str], directory: str | Path | None, explicit: str | Path | None = None,
                  metrics: set[str] | None = None) -> "ThresholdSet":
        """The thresholds of a codec known by ``codec`` (its id, or several names: the ``--codec``
        value and the codec's own name), from the first file of :func:`candidates` that exists."""
        if explicit:
            return cls.load(explicit, metrics)
        for cand in candidates(codec, directory):
            if cand.exists():  # a FIFO or device there is refused by load, not passed over
                return cls.load(cand, metrics)
        return cls(None, {}, metrics)

    def _err(self, key: str, msg: str):
        raise ThresholdError(f"{self.source}: key {key!r}: {msg}")

    def _validate(self, metrics):
        for top, val in self.table.items():
            if top == "meta":
                continue
            if top == "default":
                self._validate_block("default", val, metrics)
            elif top == "bitrate":
                if not isinstance(val, dict):
                    self._err("bitrate", "must be a table keyed by kbps")
                for br, block in val.items():
                    try:
                        kbps = float(br)
                    except ValueError:
                        kbps = float("nan")
                    if not math.isfinite(kbps) or kbps <= 0:
                        self._err(f"bitrate.{br}", "bitrate keys are numbers in kbps, e.g. \"6\" or \"1.5\"")
                    self._validate_block(f"bitrate.{br}", block, metrics)
            else:
                self._err(top, "unknown top-level key; expected meta, default or bitrate")

    def _validate_block(self, prefix, block, metrics):
        SUITES = suite_keys()
        if not isinstance(block, dict):
            self._err(prefix, "must be a table")
        for suite, conds in block.items():
            if suite not in SUITES:
                self._err(f"{prefix}.{suite}", f"unknown suite; expected one of {sorted(SUITES)}")
            if not isinstance(conds, dict):
                self._err(f"{prefix}.{suite}", f"must be a table of conditions ({', '.join(sorted(SUITES[suite]))}), "
                                               f"got {conds!r}")
            for cond, mets in conds.items():
                if cond not in SUITES[suite]:
                    self._err(f"{prefix}.{suite}.{cond}", f"unknown condition; expected one of {sorted(SUITES[suite])}")
                if not isinstance(mets, dict):
                    self._err(f"{prefix}.{suite}.{cond}", f"must be a table of metrics like pesq = {{ max_delta = -0.5 }}, "
                                                          f"got {mets!r}")
                for met, lim in mets.items():
                    key = f"{prefix}.{suite}.{cond}.{met}"
                    if metrics is not None and met not in metrics:
                        self._err(key, f"unknown metric; known: {', '.join(sorted(metrics))}")
                    if not isinstance(lim, dict) or not (len(lim) == 1 or set(lim) == RANGE):
                        self._err(key, "must be one inline table like { max_delta = -0.5 } or a range "
                                       "{ min_value = -25.0, max_value = -17.0 }")
                    for kind, limit in lim.items():
                        if kind not in KINDS:
                            self._err(key, f"unknown limit kind {kind!r}; expected one of {sorted(KINDS)}")
                        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
                            self._err(key, f"limit must be a number, got {limit!r}")
                        if not _finite(limit):
                            self._err(key, f"limit must be a finite number, got {_number_text(limit)}")
                    if set(lim) == RANGE and lim["min_value"] > lim["max_value"]:
                        self._err(key, f"range is empty: min_value {lim['min_value']} > max_value {lim['max_value']}")
                    self._check_reachable(key, met, lim)

    def _check_reachable(self, key: str, metric: str, lim: dict) -> None:
        """A limit no value of the metric can cross is a check that cannot fail: refused."""
        q = info(metric)
        if q is None:
            return
        th = as_threshold(lim, "")
        why = th.cannot_fail(q.bounds, q.higher_is_better, label=q.label)
        if why:
            self._err(key, f"{th.text()} can never fail: {why}; give a limit inside that range or remove the key")

    # -- lookup ----------------------------------------------------------------------------
    def lookup(self, bitrate_kbps: float, suite: str, condition: str, metric: str) -> Threshold | None:
        blocks = []
        for br, block in self.table.get("bitrate", {}).items():
            if abs(float(br) - float(bitrate_kbps)) < 1e-6:
                blocks.append((f"bitrate.{br}", block))
        blocks.append(("default", self.table.get("default", {})))
        for name, block in blocks:
            lim = block.get(suite, {}).get(condition, {}).get(metric)
            if lim:
                return as_threshold(lim, f"{self.source} [{name}.{suite}.{condition}.{metric}]")
        return None


def _finite(x: int | float) -> bool:
    """Finite as a float: an integer of 400 digits is not (float() would overflow)."""
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _number_text(x: int | float) -> str:
    if isinstance(x, int) and not _finite(x):
        return f"an integer of {len(str(abs(x)))} digits"
    return repr(x)


def _line_key(path: Path, hit) -> str:
    """'key K (line N): ' for the first line of ``path`` where ``hit(line)``, else ''."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    table = ""
    for n, line in enumerate(lines, 1):
        head = line.strip()
        if hit(line):
            key = head.split("=", 1)[0].strip() if "=" in head else head
            key = f"{table}.{key}" if table and "=" in head else key
            return f"key {key[:80]!r} (line {n}): "
        if head.startswith("[") and head.endswith("]") and len(head) < 200:
            table = head.strip("[]").strip()
    return ""


def _huge_key(path: Path) -> str:
    import re
    return _line_key(path, lambda line: re.search(r"\d{4000}", line.replace("_", "")) is not None)


def _nested_key(path: Path) -> str:
    return _line_key(path, lambda line: line.count("[") + line.count("{") > 500)


def as_threshold(lim: dict, where: str) -> Threshold:
    """One entry of a thresholds file (``{ max_delta = -0.5 }`` or a range) as a Threshold."""
    if set(lim) == RANGE:
        return Threshold("range", float(lim["min_value"]), where, float(lim["max_value"]))
    (kind, limit), = lim.items()
    return Threshold(kind, float(limit), where)


def file_stem(codec: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in codec)


def candidates(codec: str | list[str], directory: str | Path | None) -> list[Path]:
    """Where a codec's thresholds are looked for, in order (see the module docstring)."""
    names = [codec] if isinstance(codec, str) else list(dict.fromkeys(codec))
    dirs = [Path(directory)] if directory else []
    own = [d / f"{file_stem(n)}.toml" for d in (*dirs, BUILTIN_DIR) for n in names]
    seen: set[Path] = set()  # the project's folder may be the shipped one (this repository): once each
    out = []
    for p in own + [d / "default.toml" for d in (*dirs, BUILTIN_DIR)]:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
