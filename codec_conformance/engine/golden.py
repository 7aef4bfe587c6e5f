"""Golden vectors (issue 25, item 4): 3GPP-style test sequences of a codec, recorded once and
compared on every later run.

A codec's goldens are a fixed input set (:func:`golden_inputs`: a sweep, a second of shipped
speech, silence; at the codec's own rate, on the 16-bit grid), put through the codec at each
operating point: the token ids (codecs with ``encode``), the SHA-256 of the decoded float32 PCM,
and the decoded PCM itself on a 16-bit grid (FLAC, base64): the fingerprint the tolerance tier
compares against. They are keyed (:func:`golden_key`) by codec, its ``cache_identity`` and the
run's weights/checkpoint, the versions of its libraries, the device class (CPU architecture and
torch's CPU capability and thread count, or the GPU model) and the precision.

Two tiers (:func:`compare`): where the key matches and the recording found the codec
deterministic, tokens and PCM must be **bit-exact**; else (another library version, device,
thread count, a codec whose output varies between calls) the decoded audio must agree with the
stored PCM within the file's stated tolerance (``tolerance.snr_db``: the difference at least that
far below the golden signal, or below -60 dBFS where the golden is quieter; definition in
:func:`difference_snr_db`), and a key mismatch is said, field by field.

A golden file is JSON (``goldens/<codec>.json``); :func:`read_goldens` checks every field's type
and size before anything is decoded, so a corrupt or hostile file is one GoldenError naming the
file and the field. No pytest here: the suite (``suites/test_golden.py``) and the command
(``codec-conformance golden``) both use this module.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from .. import __version__
from ..codecs.base import check_output
from ..data.audio import resample
from ..data.shipped import SHIPPED_DIR
from ..errors import CodecError, ConformanceError, check_regular_file
from ..gate.thresholds import file_stem
from .runner import CodecRunner, call_with_time_limit

SCHEMA = "codec-conformance/goldens/1"
SIGNALS = ("sweep", "speech", "silence")    # the fixed input set, in this order
SPEECH_FILE = "speech/1688/1688-142285-0002.flac"  # shipped LibriSpeech (CC BY 4.0); 1 s of it from 0.5 s
DEFAULT_TOLERANCE_SNR_DB = 30.0  # the tolerance tier's default (a file states its own)
SNR_CAP_DB = 120.0               # "identical on the 16-bit grid" reads as this (a finite number)
FLOOR_DBFS = -60.0               # differences are measured against the golden or this level, the louder
# what a file may hold (checked before decoding anything): a hostile file cannot make us allocate much
MAX_FILE_BYTES = 64 * 2 ** 20
MAX_BITRATES = 256
MAX_SAMPLES = 10 * 192000        # per signal
MAX_CODE_VALUES = 4_000_000      # per signal and bitrate
MAX_CODE = 2 ** 31 - 1
# the libraries whose version is part of the key, by adapter module (a codec may declare its own
# ``golden_libraries``: distribution names); numpy always
LIBRARIES = {
    "codec_conformance.codecs.encodec": ("encodec", "torch"),
    "codec_conformance.codecs.dac": ("descript-audio-codec", "torch"),
    "codec_conformance.codecs.speechtokenizer": ("speechtokenizer", "torch"),
    "codec_conformance.codecs.freqcodec": ("funcodec", "torch"),
    "codec_conformance.codecs.hificodec": ("espnet", "torch"),
    "codec_conformance.codecs.pyav": ("av",),
    "codec_conformance.codecs.lyra": ("ai-edge-litert",),
    "codec_conformance.codecs.hf_audio": ("transformers", "torch"),
    "codec_conformance.codecs.snac": ("snac", "torch"),
    "codec_conformance.codecs.identity": (),
    "codec_conformance.codecs.ladder": ("scipy",),
}
# codecs computed in integer arithmetic (G.711 tables, G.722 and AMR-NB fixed point, a copy): their
# bits do not depend on the CPU's instruction set, so their device class leaves it out
INTEGER_EXACT = {("codec_conformance.codecs.identity", "IdentityCodec"), ("codec_conformance.codecs.pyav", "MuLawCodec"),
                 ("codec_conformance.codecs.pyav", "G722Codec"), ("codec_conformance.codecs.pyav", "AmrNbCodec")}
KEY_FIELDS = ("codec", "identity", "weights", "checkpoint_sha256", "libraries", "device", "precision")


class GoldenError(ConformanceError, ValueError):
    """A golden file that cannot be used (missing, corrupt, hostile, another input set); the
    message names the file and the field, and how to re-record it."""


def record_command(codec: str) -> str:
    """The command that records goldens for ``codec`` (named by every skip and error)."""
    return f"codec-conformance golden --codec {codec}"


def golden_path(directory: str | Path, codec: str) -> Path:
    return Path(directory) / f"{file_stem(codec)}.json"


def shipped_dir() -> Path | None:
    """The goldens shipped with the source tree (the repository's ``goldens/``: the deterministic
    reference codecs), or None for an installed wheel (which ships none: record your own)."""
    source = Path(__file__).resolve().parents[2]
    d = source / "goldens"
    return d if (source / "pyproject.toml").is_file() and d.is_dir() else None


def find_goldens(directory: Path | None, codec: str) -> Path | None:
    """The golden file of ``codec``: the project's (``directory``, --codec-goldens-dir), else the
    shipped one; None when neither exists."""
    for d in (directory, shipped_dir()):
        if d is not None:
            p = golden_path(d, codec)
            if p.exists() or p.is_symlink():
                return p
    return None


def bitrate_key(b: float) -> str:
    return format(float(b), ".10g")


# ----------------------------------------------------------------------------- inputs
def _on_grid(x: np.ndarray) -> np.ndarray:
    """float64 samples rounded to the 16-bit grid, as float32: the same bits on every machine
    (a libm that differs in the last place of a sine moves no sample off its 16-bit step)."""
    return (np.round(np.clip(x, -1.0, 32767 / 32768) * 32768.0) / 32768.0).astype(np.float32)


def golden_inputs(sample_rate: int) -> dict[str, np.ndarray]:
    """The fixed input set at ``sample_rate``: an exponential sine sweep (50 Hz to 0.45 x the rate,
    0.5 s, peak -6 dBFS, 10 ms fades), 1 s of shipped speech (LibriSpeech 1688-142285-0002 from
    0.5 s, resampled, peak-normalised to -3 dBFS) and 0.25 s of digital silence."""
    import soundfile as sf

    sr = int(sample_rate)
    n = sr // 2
    t = np.arange(n) / sr
    f0, f1 = 50.0, 0.45 * sr
    k = math.log(f1 / f0)
    sweep = 10 ** (-6 / 20) * np.sin(2 * math.pi * f0 * 0.5 / k * (np.exp(t / 0.5 * k) - 1.0))
    fade = min(n // 2, sr // 100)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    sweep[:fade] *= ramp
    sweep[n - fade:] *= ramp[::-1]
    pcm, file_sr = sf.read(str(SHIPPED_DIR / SPEECH_FILE), dtype="int16", always_2d=True)
    speech = pcm[file_sr // 2: file_sr // 2 + file_sr, 0].astype(np.float64) / 32768.0
    speech = resample(speech, file_sr, sr).astype(np.float64)[:sr]
    speech *= 10 ** (-3 / 20) / max(1e-9, float(np.max(np.abs(speech))))
    return {"sweep": _on_grid(sweep), "speech": _on_grid(speech), "silence": np.zeros(sr // 4, np.float32)}


def sha256_array(x: np.ndarray, dtype: str) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).hexdigest()


# ----------------------------------------------------------------------------- the key
def device_class(runner: CodecRunner, name: str) -> str:
    """cpu/<machine>[/<torch CPU capability>/threads-<n>] or cuda/<GPU model>: what decides the
    bits of a float computation (torch's CPU kernels differ by instruction set, and its reductions
    by thread count: measured, 1 vs 2 threads change EnCodec's output bits). The instruction set
    (:func:`cpu_isa`) for every codec but the integer-arithmetic ones (INTEGER_EXACT); the torch
    part only for a codec whose libraries include torch."""
    dev = str(runner.framework_identity(name)["device"])
    if dev != "cpu":
        return dev
    parts = ["cpu", platform.machine() or "unknown"]
    codec = runner.codec(name)
    if (type(codec).__module__, type(codec).__name__) not in INTEGER_EXACT:
        parts.append(cpu_isa())
    torch = sys.modules.get("torch")
    if torch is not None and "torch" in libraries_of(runner.codec(name)):  # a codec that computes with torch
        try:
            parts.append(str(torch.backends.cpu.get_cpu_capability()))
        except Exception:  # noqa: BLE001  (an old torch: no capability query)
            pass
        parts.append(f"threads-{torch.get_num_threads()}")
    return "/".join(parts)


def cpu_isa() -> str:
    """The widest SIMD level this CPU offers (as NumPy detects it): float kernels (torch, XNNPACK,
    libopus) pick their code path by it, and two paths need not round alike."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # another NumPy layout: say so rather than guess
        return "isa-unknown"
    for level in ("AVX512F", "AVX2", "SSE42", "SVE", "ASIMD", "NEON", "VSX"):
        if feats.get(level):
            return level
    return "isa-baseline"


def _dist_version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def libraries_of(codec: Any) -> dict[str, str | None]:
    """{distribution: version} of the libraries the codec's output depends on (None: not installed).
    Asked after the codec has run (a user's codec that uses torch has imported it by then)."""
    names = getattr(codec, "golden_libraries", None)
    if names is None:  # the first class of its MRO that is one of our adapters (a subclass of one)
        names = next((LIBRARIES[c.__module__] for c in type(codec).__mro__ if c.__module__ in LIBRARIES), None)
    if names is None:  # a user's codec: its own top-level package, and torch where it uses it
        top = type(codec).__module__.split(".")[0]
        names = (top,) + (("torch",) if "torch" in sys.modules else ())
    return {d: _dist_version(d) for d in sorted({"numpy", *names})}


def golden_key(runner: CodecRunner, name: str) -> dict[str, Any]:
    """What the goldens of codec ``name`` hold for: its ``--codec`` spec, a hash of its
    ``cache_identity()`` (None when it declares none), the weights kind and checkpoint SHA-256 of
    the run's settings, the library versions, the device class and the precision."""
    codec = runner.codec(name)
    ident = codec.cache_identity() if callable(getattr(codec, "cache_identity", None)) else None
    fw = runner.framework_identity(name)
    return {"codec": name,
            "identity": None if ident is None else hashlib.sha256(repr(ident).encode()).hexdigest(),
            "weights": fw["weights"], "checkpoint_sha256": fw["checkpoint_sha256"],
            "libraries": libraries_of(codec), "device": device_class(runner, name), "precision": fw["precision"]}


def key_differences(stored: dict, current: dict) -> list[str]:
    """Each key field that differs, for people: ``device: cpu/x86_64/AVX2/threads-1 (goldens) vs ...``."""
    out = []
    for k in KEY_FIELDS:
        a, b = stored.get(k), current.get(k)
        if a == b:
            continue
        if k == "libraries" and isinstance(a, dict) and isinstance(b, dict):
            for lib in sorted(set(a) | set(b)):
                if a.get(lib) != b.get(lib):
                    out.append(f"{lib} {a.get(lib)} (goldens) vs {b.get(lib)} (this run)")
        elif k == "identity":
            out.append("codec identity (cache_identity(): version, weights) differs")
        else:
            out.append(f"{k}: {a} (goldens) vs {b} (this run)")
    return out


# ----------------------------------------------------------------------------- PCM fingerprint
def pcm_scale(y: np.ndarray) -> float:
    """The full scale the fingerprint stores ``y`` on: 1, or the next power of two above its peak."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return 1.0 if peak <= 1.0 else float(2 ** math.ceil(math.log2(peak)))


def to_grid(y: np.ndarray, scale: float) -> np.ndarray:
    """``y`` as int16 on the grid of full scale ``scale``."""
    return np.round(np.clip(np.asarray(y, np.float64) / scale, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)


def flac_b64(pcm16: np.ndarray, sr: int) -> str:
    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, pcm16, int(sr), format="FLAC", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def difference_snr_db(golden16: np.ndarray, current16: np.ndarray) -> float:
    """10 log10(max(E_golden, E_floor) / E_difference) on the 16-bit grid, E_floor the energy of
    a -60 dBFS signal of that length (a near-silent golden is judged against -60 dBFS, not against
    its own near-zero energy); clipped to [-SNR_CAP_DB, SNR_CAP_DB] (identical: SNR_CAP_DB). Signals of different lengths are compared over the longer, the shorter
    zero-padded (a length change is a difference)."""
    n = max(len(golden16), len(current16))
    g = np.zeros(n)
    c = np.zeros(n)
    g[: len(golden16)] = np.asarray(golden16, np.float64) / 32768.0
    c[: len(current16)] = np.asarray(current16, np.float64) / 32768.0
    e_d = float(np.sum((c - g) ** 2))
    if e_d == 0.0:
        return SNR_CAP_DB
    e_ref = max(float(np.sum(g ** 2)), n * 10 ** (FLOOR_DBFS / 10))
    return float(np.clip(10 * math.log10(e_ref / e_d), -SNR_CAP_DB, SNR_CAP_DB))


# ----------------------------------------------------------------------------- measuring a codec
@dataclass
class Output:
    """One signal at one bitrate through the codec: codes (or None), decoded float32 PCM."""
    codes: np.ndarray | None
    pcm: np.ndarray


def has_codes(codec: Any) -> bool:
    return callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None))


def run_codec(runner: CodecRunner, name: str, bitrate: float, x: np.ndarray) -> Output:
    """``x`` (at the codec's rate) through codec ``name`` directly, alone (a batch of one), never
    from the output cache (a golden exists to notice what a cache key does not say: a library
    update), under ``--codec-timeout``."""
    codec = runner.codec(name)
    limit = runner.settings.timeout
    batch = np.asarray(x, np.float32)[None]
    y = call_with_time_limit(partial(codec.roundtrip, batch, bitrate), limit, name, bitrate, runner.abandoned)
    pcm = check_output(name, batch, y, bitrate)[0]
    codes = None
    if has_codes(codec):
        c = np.asarray(call_with_time_limit(partial(codec.encode, batch, bitrate), limit, name, bitrate,
                                            runner.abandoned, "encode"))
        if c.ndim != 3 or c.shape[0] != 1 or not np.issubdtype(c.dtype, np.integer):
            raise CodecError(f"codec {name!r}: encode must return integer codes [batch, n_q, frames], got "
                             f"{c.dtype} {c.shape}")
        codes = c[0].astype(np.int64)
    return Output(codes, pcm)


def same(a: Output, b: Output) -> bool:
    if a.codes is None or b.codes is None:
        codes_same = a.codes is None and b.codes is None
    else:
        codes_same = a.codes.shape == b.codes.shape and bool(np.array_equal(a.codes, b.codes))
    return codes_same and a.pcm.shape == b.pcm.shape and bool(np.array_equal(a.pcm, b.pcm))


def record(runner: CodecRunner, name: str, bitrates: list[float], tolerance_snr_db: float = DEFAULT_TOLERANCE_SNR_DB,
           command: str = "") -> dict:
    """The golden document of codec ``name`` at ``bitrates``. Every input is coded twice: a codec
    whose two outputs differ is recorded as not deterministic (its goldens are compared within the
    tolerance only)."""
    if not (math.isfinite(tolerance_snr_db) and 0 < tolerance_snr_db <= SNR_CAP_DB):
        raise GoldenError(f"tolerance {tolerance_snr_db!r} dB: give a number in (0, {SNR_CAP_DB:g}]")
    codec = runner.codec(name)
    sr = int(codec.sample_rate)
    inputs = golden_inputs(sr)
    deterministic = True
    per_rate: dict[str, Any] = {}
    for b in bitrates:
        sigs = {}
        for sig, x in inputs.items():
            first, second = run_codec(runner, name, b, x), run_codec(runner, name, b, x)
            deterministic = deterministic and same(first, second)
            scale = pcm_scale(first.pcm)
            sigs[sig] = {"codes": None if first.codes is None else first.codes.tolist(),
                         "pcm_sha256": sha256_array(first.pcm, "float32"),
                         "pcm_scale": scale, "pcm_flac": flac_b64(to_grid(first.pcm, scale), sr)}
        per_rate[bitrate_key(b)] = {"bitrate_kbps": float(b), "signals": sigs}
    return {"schema": SCHEMA, "key": golden_key(runner, name), "deterministic": deterministic,
            "tolerance": {"snr_db": float(tolerance_snr_db)}, "sample_rate": sr,
            "inputs": [{"name": k, "samples": int(len(x)), "sha256": sha256_array(x, "float32")}
                       for k, x in inputs.items()],
            "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "codec_conformance": __version__, "command": command, "bitrates": per_rate}


def write_goldens(doc: dict, path: Path) -> Path:
    """Write ``doc`` atomically (a temporary beside it, then renamed)."""
    import os
    import tempfile
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=False)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------- reading a file
class _Check:
    def __init__(self, source: Path):
        self.source = source

    def fail(self, where: str, want: str, got: object = None, note: str = "") -> NoReturn:
        seen = "" if got is None else f", not {_what(got)}"
        raise GoldenError(f"{self.source}: {where} must be {want}{seen}{note} (a golden file is written by "
                          "`codec-conformance golden`; re-record it, docs/golden.md)")

    def obj(self, v, where, keys=()) -> dict:
        if not isinstance(v, dict):
            self.fail(where, "an object", v)
        missing = [k for k in keys if k not in v]
        if missing:
            raise GoldenError(f"{self.source}: {where} lacks {', '.join(map(repr, missing))} (re-record it with "
                              "`codec-conformance golden`; docs/golden.md)")
        return v

    def text(self, v, where, null=False, max_len=512) -> None:
        if v is None and null:
            return
        if not isinstance(v, str) or len(v) > max_len:
            self.fail(where, f"a string of at most {max_len} characters" + (" or null" if null else ""), v)

    def number(self, v, where, lo=-math.inf, hi=math.inf) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)) \
                or not lo <= float(v) <= hi:
            self.fail(where, f"a finite number in [{lo:g}, {hi:g}]", v)
        return float(v)

    def integer(self, v, where, lo, hi) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.fail(where, f"an integer in [{lo}, {hi}]", v)
        return v

    def sha(self, v, where) -> None:
        if not isinstance(v, str) or len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            self.fail(where, "a SHA-256 (64 lower-case hex digits)", v)


def _what(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return repr(v) if len(repr(v)) <= 30 else "a number of " + str(len(repr(v))) + " digits"
    if isinstance(v, str):
        return "the text " + (json.dumps(v) if len(v) <= 40 else json.dumps(v[:37]) + "...")
    return "an object" if isinstance(v, dict) else "an array" if isinstance(v, list) else type(v).__name__


def _check_codes(ck: _Check, v, where) -> None:
    rows = v if isinstance(v, list) else ck.fail(where, "null or an array of code rows [n_q][frames]", v)
    if not rows or len(rows) > 4096:
        ck.fail(where, "an array of 1 to 4096 code rows", rows)
    width = None
    total = 0
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            ck.fail(f"{where}[{i}]", "an array of integers", row)
        if width is None:
            width = len(row)
        elif len(row) != width:
            ck.fail(f"{where}[{i}]", f"a row of {width} codes (every level has as many frames)", row,
                    f" ({len(row)} codes)")
        total += len(row)
        if total > MAX_CODE_VALUES:
            ck.fail(where, f"at most {MAX_CODE_VALUES} codes", None)
        for j, c in enumerate(row):
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_CODE:
                ck.fail(f"{where}[{i}][{j}]", f"an integer code in [0, {MAX_CODE}]", c)


def validate_goldens(doc: Any, source: Path) -> dict:
    """Check ``doc`` against the golden format (module docstring); one GoldenError naming
    ``source`` and the first bad field. Decodes nothing."""
    ck = _Check(source)
    ck.obj(doc, "the file", keys=("schema", "key", "deterministic", "tolerance", "sample_rate", "inputs", "bitrates"))
    if doc["schema"] != SCHEMA:
        ck.fail("schema", repr(SCHEMA), doc["schema"])
    key = ck.obj(doc["key"], "key", keys=KEY_FIELDS)
    for k in ("codec", "weights", "device", "precision"):
        ck.text(key[k], f"key.{k}", null=k != "codec")
    for k in ("identity", "checkpoint_sha256"):
        if key[k] is not None:
            ck.sha(key[k], f"key.{k}")
    libs = ck.obj(key["libraries"], "key.libraries")
    if len(libs) > 64:
        ck.fail("key.libraries", "at most 64 libraries", libs)
    for k, v in libs.items():
        ck.text(k, "key.libraries (a name)", max_len=128)
        ck.text(v, f"key.libraries.{k}", null=True, max_len=128)
    if not isinstance(doc["deterministic"], bool):
        ck.fail("deterministic", "true or false", doc["deterministic"])
    tol = ck.obj(doc["tolerance"], "tolerance", keys=("snr_db",))
    ck.number(tol["snr_db"], "tolerance.snr_db", 1e-9, SNR_CAP_DB)
    ck.integer(doc["sample_rate"], "sample_rate", 1, 192000)
    inputs = doc["inputs"]
    if not isinstance(inputs, list) or [i.get("name") if isinstance(i, dict) else None for i in inputs] != list(SIGNALS):
        ck.fail("inputs", f"the input set {list(SIGNALS)} (one object each, in this order)", inputs)
    for i, inp in enumerate(inputs):
        ck.obj(inp, f"inputs[{i}]", keys=("name", "samples", "sha256"))
        ck.integer(inp["samples"], f"inputs[{i}].samples", 1, MAX_SAMPLES)
        ck.sha(inp["sha256"], f"inputs[{i}].sha256")
    rates = ck.obj(doc["bitrates"], "bitrates")
    if not rates or len(rates) > MAX_BITRATES:
        ck.fail("bitrates", f"an object of 1 to {MAX_BITRATES} operating points", rates)
    max_flac = 4 * (2 * MAX_SAMPLES + 4096) // 3 + 4
    for bk, entry in rates.items():
        w = f"bitrates.{str(bk)[:20]}"
        ck.obj(entry, w, keys=("bitrate_kbps", "signals"))
        b = ck.number(entry["bitrate_kbps"], f"{w}.bitrate_kbps", 1e-9, 1e9)
        if bk != bitrate_key(b):
            ck.fail(w, f"named by its bitrate ({bitrate_key(b)!r})", bk)
        sigs = ck.obj(entry["signals"], f"{w}.signals", keys=SIGNALS)
        if set(sigs) != set(SIGNALS):
            ck.fail(f"{w}.signals", f"exactly {list(SIGNALS)}", sorted(sigs))
        for s in SIGNALS:
            sw = f"{w}.signals.{s}"
            sig = ck.obj(sigs[s], sw, keys=("codes", "pcm_sha256", "pcm_scale", "pcm_flac"))
            if sig["codes"] is not None:
                _check_codes(ck, sig["codes"], f"{sw}.codes")
            ck.sha(sig["pcm_sha256"], f"{sw}.pcm_sha256")
            ck.number(sig["pcm_scale"], f"{sw}.pcm_scale", 1.0, 2.0 ** 60)
            ck.text(sig["pcm_flac"], f"{sw}.pcm_flac", max_len=max_flac)
    if doc.get("command") is not None:
        ck.text(doc["command"], "command", max_len=4096)
    return doc


def read_goldens(path: Path) -> dict:
    """A golden file, checked (:func:`validate_goldens`); GoldenError when it cannot be used."""
    check_regular_file(path, GoldenError, "a golden file (JSON)")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise GoldenError(f"{path}: not found") from None
    if size > MAX_FILE_BYTES:
        raise GoldenError(f"{path}: {size} bytes, more than a golden file may be ({MAX_FILE_BYTES} bytes); "
                          "record fewer bitrates (--codec-bitrate) or re-record it")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise GoldenError(f"{path}: not a golden file (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GoldenError(f"{path}: not a golden file: not valid JSON ({' '.join(str(exc).split())[:200]}); "
                          "re-record it with `codec-conformance golden`") from None
    return validate_goldens(doc, path)


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def decode_pcm(sig: dict, samples: int, source: Path, where: str) -> np.ndarray:
    """The stored int16 PCM of one signal (checked: a FLAC of one channel and ``samples`` samples)."""
    import soundfile as sf
    try:
        raw = base64.b64decode(sig["pcm_flac"], validate=True)
        pcm, _ = sf.read(io.BytesIO(raw), dtype="int16", always_2d=True, frames=samples + 1)
    except (binascii.Error, ValueError, RuntimeError, sf.LibsndfileError) as exc:
        raise GoldenError(f"{source}: {where}.pcm_flac is not base64 FLAC audio ({' '.join(str(exc).split())[:120]});"
                          " re-record it with `codec-conformance golden`") from None
    if pcm.shape != (samples, 1):
        raise GoldenError(f"{source}: {where}.pcm_flac holds {pcm.shape[0]} samples x {pcm.shape[1]} channels; the "
                          f"input has {samples} samples (one channel); re-record it")
    return pcm[:, 0]


# ----------------------------------------------------------------------------- comparing
@dataclass
class SignalResult:
    name: str
    bit_exact: bool              # codes (where any) equal and the float32 PCM's SHA-256 equal
    codes_identical: float | None  # fraction of code entries equal (None: no codes)
    snr_db: float                # the decoded difference (difference_snr_db)
    note: str = ""


@dataclass
class Comparison:
    """A run against its goldens at one bitrate."""
    tier: str                    # bit-exact | tolerance
    why_tolerance: list[str]     # why not bit-exact (key differences, a non-deterministic codec)
    tolerance_snr_db: float
    signals: list[SignalResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        if self.tier == "bit-exact":
            return all(s.bit_exact for s in self.signals)
        return all(s.snr_db >= self.tolerance_snr_db for s in self.signals)

    def failures(self) -> list[str]:
        if self.tier == "bit-exact":
            return [f"{s.name}: not bit-exact ({s.note})" for s in self.signals if not s.bit_exact]
        return [f"{s.name}: decoded difference at {s.snr_db:.1f} dB, below the tolerance {self.tolerance_snr_db:g} dB"
                + (f" ({s.note})" if s.note else "") for s in self.signals if s.snr_db < self.tolerance_snr_db]


def entry_for(doc: dict, bitrate: float) -> dict | None:
    for entry in doc["bitrates"].values():
        if abs(float(entry["bitrate_kbps"]) - float(bitrate)) < 1e-6:
            return entry
    return None


def compare(runner: CodecRunner, name: str, bitrate: float, doc: dict, source: Path) -> Comparison:
    """Codec ``name`` at ``bitrate`` against the goldens ``doc`` (read from ``source``): bit-exact
    where the key matches and the recording was deterministic, else within the file's tolerance."""
    codec = runner.codec(name)
    entry = entry_for(doc, bitrate)
    if entry is None:
        raise GoldenError(f"{source}: no goldens at {bitrate:g} kbps")
    if int(codec.sample_rate) != doc["sample_rate"]:
        raise GoldenError(f"{source}: recorded at {doc['sample_rate']} Hz; codec {name!r} runs at "
                          f"{int(codec.sample_rate)} Hz: another codec; re-record with `{record_command(name)}`")
    inputs = golden_inputs(int(codec.sample_rate))
    for inp in doc["inputs"]:
        x = inputs[inp["name"]]
        if len(x) != inp["samples"] or sha256_array(x, "float32") != inp["sha256"]:
            raise GoldenError(f"{source}: input {inp['name']!r} here is not the one the goldens were recorded from "
                              "(another codec-conformance version or resampler); re-record with "
                              f"`{record_command(name)}`")
    outputs = {sig_name: run_codec(runner, name, bitrate, x) for sig_name, x in inputs.items()}
    why = key_differences(doc["key"], golden_key(runner, name))  # after the codec ran (libraries_of)
    if not doc["deterministic"]:
        why.append("the codec's output varied between two calls when the goldens were recorded")
    cmp = Comparison("tolerance" if why else "bit-exact", why, float(doc["tolerance"]["snr_db"]))
    for sig_name, x in inputs.items():
        where = f"bitrates.{bitrate_key(bitrate)}.signals.{sig_name}"
        stored = entry["signals"][sig_name]
        out = outputs[sig_name]
        notes = []
        want = stored["codes"]
        if want is None and out.codes is None:
            codes_same, frac = True, None
        elif want is None or out.codes is None:
            codes_same, frac = False, 0.0
            notes.append("the goldens have codes and this codec none" if out.codes is None else
                         "this codec has codes and the goldens none")
        else:
            w = np.asarray(want, np.int64)
            codes_same = w.shape == out.codes.shape and bool(np.array_equal(w, out.codes))
            if w.shape == out.codes.shape:
                frac = float(np.mean(w == out.codes))
            else:
                frac = 0.0
                notes.append(f"codes of shape {tuple(out.codes.shape)}, goldens {tuple(w.shape)}")
            if not codes_same and w.shape == out.codes.shape:
                first = np.argwhere(w != out.codes)[0]
                notes.append(f"{int(np.sum(w != out.codes))} of {w.size} codes differ, first at level "
                             f"{int(first[0])} frame {int(first[1])}")
        pcm_same = sha256_array(out.pcm, "float32") == stored["pcm_sha256"]
        if not pcm_same:
            notes.append("the decoded PCM's SHA-256 differs")
        golden16 = decode_pcm(stored, len(x), source, where)
        snr = difference_snr_db(golden16, to_grid(out.pcm, float(stored["pcm_scale"])))
        if not pcm_same:
            notes.append(f"decoded difference {snr:.1f} dB below the golden (or -60 dBFS)")
        cmp.signals.append(SignalResult(sig_name, codes_same and pcm_same, frac, snr, "; ".join(notes)))
    return cmp
