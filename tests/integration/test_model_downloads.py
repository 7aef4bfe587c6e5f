from __future__ import annotations

import io
import os
import subprocess
import sys


from tests.helpers import ROOT

# ----------------------------------------------------------------------
# Downloads of published weights, evaluator models and corpora (codec_conformance.fetch), against
# a server on 127.0.0.1 (the ``server`` fixture) that serves small generated files in each source's layout.
# Nothing else is contacted: every URL goes through the mirror setting to that server.


# ------------------------------------------------------------------------------ the plugin
def _run_suite(tmp_path, *args, env_extra=None):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TORCH_HOME", "CODEC_CONFORMANCE"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "pytest", "suites/", "-q", "-p", "no:randomly",
                           "--codec-report-dir", str(tmp_path / "r"), "--codec-cache-dir", str(tmp_path / "c"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_missing_model_offline_is_one_usage_error_before_anything_runs(tmp_path):
    """Was: 54 per-test errors 'pretrained weights not found ... nothing can be downloaded here'."""
    r = _run_suite(tmp_path, "--codec=dac", "--codec-offline")
    out = r.stdout + r.stderr
    assert r.returncode == 4, out[-2000:]
    url = "https://github.com/descriptinc/descript-audio-codec/releases/download/0.0.1/weights.pth"
    path = tmp_path / "home" / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth"
    assert out.count(url) == 1 and str(path) in out
    assert "Traceback" not in out and "passed" not in out and "error" not in out.lower().replace("usage error", "") \
        .replace("error:", "")


def test_hf_hub_offline_env_is_honoured_by_preflight(tmp_path):
    r = _run_suite(tmp_path, "--codec=speechtokenizer", env_extra={"HF_HUB_OFFLINE": "1"})
    out = r.stdout + r.stderr
    assert r.returncode == 4, out[-2000:]
    assert "HF_HUB_OFFLINE=1" in out and "fnlp/SpeechTokenizer/resolve/main/speechtokenizer_hubert_avg/config.json" in out


def test_suite_run_fetches_missing_weights_itself_at_session_start(tmp_path, server):
    """End to end: `pytest suites/ --codec=dac24` with an empty cache downloads the weights once
    (here from the local server, through --codec-model-mirror) and the tests see that model."""
    import torch
    from dac.model.dac import DAC

    from codec_conformance.codecs import dac
    kw = dict(encoder_dim=4, encoder_rates=[2, 4], latent_dim=8, decoder_dim=8, decoder_rates=[4, 2],
              n_codebooks=2, codebook_size=16, codebook_dim=4, sample_rate=24000)
    buf = io.BytesIO()
    torch.save({"metadata": {"kwargs": kw}, "state_dict": DAC(**kw).state_dict()}, buf)
    served = server.serve(dac.PRETRAINED["dac24"][0].url, buf.getvalue())
    r = _run_suite(tmp_path, "--codec=dac24", "--codec-model-mirror", server.url, "--codec-bitrate", "all",
                   "--collect-only", "-k", "frequency_response",
                   env_extra={"CODEC_CONFORMANCE_NO_PROGRESS": "1"})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-2000:]
    assert server.requests == [(served, None)]
    assert (tmp_path / "home" / ".cache" / "descript" / "dac" / "weights_24khz_8kbps_0.0.4.pth").read_bytes() == \
        buf.getvalue()
    # the downloaded model's operating points: 2 codebooks of 16 codes at 24000/8 = 3000 Hz
    assert "dac24-12kbps-0dBFS" in out and "dac24-24kbps-0dBFS" in out and "6/" in out
