"""Fixtures of the unit tests."""
import pytest

from codec_conformance import fetch


@pytest.fixture
def caches(tmp_path, monkeypatch, server):
    """Empty standard caches under tmp_path; downloads go to the local server through the mirror."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for k in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "CODEC_CONFORMANCE_CACHE",
              "CODEC_CONFORMANCE_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CODEC_CONFORMANCE_MIRROR", server.url)
    monkeypatch.setenv("CODEC_CONFORMANCE_NO_PROGRESS", "1")
    fetch.configure()
    yield home / ".cache"
    fetch.configure()
