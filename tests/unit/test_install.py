"""What an install brings: setup.sh, the extras and requirements-nodeps.txt cover every registered
codec's library, and the README and docs/install.md say the same as the files (issue 26, item 7:
the README said four packages go in without their dependencies while setup.sh installed six, and
the `neural` extra carried neither DAC, FunCodec, ESPnet nor SpeechTokenizer)."""
import re
import tomllib

from codec_conformance.registry import codec_names
from tests.helpers import ROOT

# the distribution each registered codec's adapter imports (the FFmpeg codecs: PyAV, a base need)
CODEC_DISTRIBUTIONS = {"encodec": "encodec", "dac": "descript-audio-codec", "dac24": "descript-audio-codec",
                       "dac16": "descript-audio-codec", "freqcodec": "funcodec", "hificodec": "espnet",
                       "speechtokenizer": "speechtokenizer", "lyra": "ai-edge-litert", "snac": "snac",
                       **{n: "transformers" for n in ("hf-encodec", "hf-dac", "mimi", "xcodec", "xcodec2", "neucodec",
                                                      "higgs-audio-v2")}}
BASE_CODECS = {"identity", "opus", "amrnb", "g722", "mulaw", "mp3", "ladder"}


def _nodeps() -> list[str]:
    lines = (ROOT / "requirements-nodeps.txt").read_text().splitlines()
    return [ln.split("==")[0].strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {k: [re.split(r"[<>=\[; ]", v, maxsplit=1)[0] for v in vs]
            for k, vs in project["optional-dependencies"].items()}


def test_every_registered_codec_library_comes_from_an_extra_or_the_no_deps_list():
    provided = set(_nodeps()) | {d for deps in _extras().values() for d in deps}
    for name in codec_names():
        if name in BASE_CODECS:
            continue
        assert name in CODEC_DISTRIBUTIONS, f"say which distribution codec {name!r} needs"
        assert CODEC_DISTRIBUTIONS[name] in provided, f"{name}: {CODEC_DISTRIBUTIONS[name]} is installed by nothing"


def test_setup_installs_the_no_deps_list_and_the_docs_say_how_many():
    setup = (ROOT / "setup.sh").read_text()
    assert "--no-deps --no-build-isolation -r requirements-nodeps.txt" in setup
    n = len(_nodeps())
    word = {4: "four", 5: "five", 6: "six", 7: "seven"}[n]
    readme, install = (ROOT / "README.md").read_text(), (ROOT / "docs" / "install.md").read_text()
    assert f"{word} more\npackages installed without their declared dependencies" in readme
    assert "requirements-nodeps.txt" in readme and f"{word.capitalize()} documented exceptions" in install
    for dist in _nodeps():
        assert f"`{dist}`" in install, f"docs/install.md does not say why {dist} goes in without its dependencies"
