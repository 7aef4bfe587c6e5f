"""Evaluator files that cannot run code (issue 29, item 1): a mirror on 127.0.0.1 serves the
paper's evaluator files with code in them; each gate in codec_conformance.metrics.trust must
refuse it, naming the file and what is wrong, before the library (speechbrain, funasr,
openai-whisper) is called. Fixtures: tests/unit/test_fetch.py's local server and empty caches."""
from __future__ import annotations

import dataclasses
import io
import os
import pickle
from pathlib import Path

import pytest

from codec_conformance.errors import ConformanceError
from codec_conformance.metrics import paper, trust

# the published ECAPA file's shape (tags and callables), small sizes
ECAPA_YAML = """\
n_mels: 80
pretrained_path: speechbrain/spkrec-ecapa-voxceleb
out_n_neurons: 4
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    lin_neurons: 12
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 12
    out_neurons: !ref <out_n_neurons>
mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    mean_var_norm_emb: !ref <mean_var_norm_emb>
    classifier: !ref <classifier>
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm_emb: !ref <mean_var_norm_emb>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
"""


class Marker:
    """A pickle that runs ``touch <path>`` when fully unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _torch_bytes(obj) -> bytes:
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _serve_ecapa(srv, monkeypatch, hyper: str) -> None:
    monkeypatch.setattr(paper, "ECAPA", tuple(dataclasses.replace(s, sha256=None) for s in paper.ECAPA))
    files = {"hyperparams.yaml": hyper.encode(), "embedding_model.ckpt": _torch_bytes({}),
             "mean_var_norm_emb.ckpt": _torch_bytes({}), "classifier.ckpt": _torch_bytes({}),
             "label_encoder.txt": b"'a' => 0\n"}
    for src in paper.ECAPA:
        srv.serve(src.url, files[src.url.rsplit("/", 1)[1]])


def test_a_served_hyperparams_yaml_with_apply_never_runs(caches, server, monkeypatch, tmp_path):  # noqa: F811
    """``--codec-evaluators paper`` with a mirror serving ECAPA's hyperparams.yaml carrying
    ``!apply:os.system``: the old code handed it to speechbrain, which ran the command (here it
    creates a marker file). Now the file is refused before speechbrain is imported or called,
    naming the file, the tag and --codec-trust-evaluators."""
    from codec_conformance.metrics.speaker import SpeakerEer
    marker = tmp_path / "pwned"
    _serve_ecapa(server, monkeypatch, ECAPA_YAML + f'__boom: !apply:os.system ["touch {marker}"]\n')
    settings = type("S", (), {"evaluators": "paper", "speaker_model": "auto", "eer_protocol": "enrol-test"})()
    with pytest.raises(ConformanceError) as e:  # the real speechbrain: the old code ran the command
        SpeakerEer.from_settings(settings).make_model()
    msg = str(e.value)
    assert not marker.exists()
    assert "hyperparams.yaml" in msg and "!apply:os.system" in msg and "--codec-trust-evaluators" in msg


@pytest.mark.parametrize("bad, named", [
    ("x: !new:os.system\n  - touch /tmp/x\n", "!new:os.system"),
    ("x: !name:builtins.eval\n", "!name:builtins.eval"),
    ("x: !module:os\n", "!module:os"),
    ("x: !include:/etc/passwd\n", "!include:/etc/passwd"),
    ("x: !!python/object/apply:os.system ['touch /tmp/x']\n", "python/object/apply:os.system"),
    ("x: !ref <n_mels> ** 99999999\n", "**"),
])
def test_every_code_running_tag_is_refused(tmp_path, bad, named):
    p = tmp_path / "hyperparams.yaml"
    p.write_text(ECAPA_YAML + bad)
    with pytest.raises(trust.EvaluatorFileRefused, match=named.replace("*", r"\*").replace("[", r"\[")):
        trust.check_hyperparams(p)


def test_the_published_ecapa_layout_passes_and_pretrainer_paths_stay_in_the_folder(tmp_path):
    p = tmp_path / "hyperparams.yaml"
    p.write_text(ECAPA_YAML)
    trust.check_hyperparams(p)  # the published file's tags and callables
    p.write_text(ECAPA_YAML.replace("!ref <pretrained_path>/embedding_model.ckpt",
                                    "https://evil.example/embedding_model.ckpt"))
    with pytest.raises(trust.EvaluatorFileRefused, match="Pretrainer path 'embedding_model'"):
        trust.check_hyperparams(p)


def test_the_trust_option_turns_the_gates_off(tmp_path):
    (tmp_path / "hyperparams.yaml").write_text("x: !apply:print [1]\n")
    (tmp_path / "custom.py").write_text("")
    trust.check_speechbrain_dir(tmp_path, trusted=True)
    with pytest.raises(trust.EvaluatorFileRefused):
        trust.check_speechbrain_dir(tmp_path, trusted=False)
    from codec_conformance.settings import OPTIONS, Settings
    assert "trust_evaluators" in OPTIONS and Settings().trust_evaluators is False


def _emotion_dir(root: Path, config: str, extra: dict[str, bytes] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(config)
    (root / "model.pt").write_bytes(_torch_bytes({"w": 1}))
    (root / "tokens.txt").write_text("a\n")
    for name, data in (extra or {}).items():
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("case", ["a .py file in the folder", "remote code in the config", "a hub sub-model"])
def test_an_emotion_model_that_would_import_or_fetch_code_is_refused(tmp_path, monkeypatch, case):
    """emotion2vec through funasr: a config with ``trust_remote_code``/``remote_code`` made funasr
    import a Python file of the folder (and a ``vad_model`` made it fetch another model from a
    hub, even under --codec-offline); the old code called funasr.AutoModel on it. Now the folder
    is refused before funasr is imported or called."""
    import funasr

    from codec_conformance.metrics.prosody import EmotionAccuracy
    marker = tmp_path / "pwned"
    code = f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n".encode()
    base = "model: Emotion2vec\nmodel_conf: {}\ntokenizer_conf: {}\nfrontend_conf: {}\n"
    folder = {
        "a .py file in the folder": lambda: _emotion_dir(tmp_path / "m", base, {"model.py": code}),
        "remote code in the config": lambda: _emotion_dir(tmp_path / "m", base + "trust_remote_code: true\n"
                                                          "remote_code: ./model.py\n"),
        "a hub sub-model": lambda: _emotion_dir(tmp_path / "m", base + "vad_model: fsmn-vad\n"),
    }[case]()
    called = []
    monkeypatch.setattr(funasr, "AutoModel", lambda **kw: called.append(kw))
    with pytest.raises(ConformanceError) as e:
        EmotionAccuracy(str(folder))
    msg = str(e.value)
    assert called == [] and not marker.exists()
    assert str(folder) in msg and "--codec-trust-evaluators" in msg
    assert ("model.py" in msg) if case.startswith("a .py") else ("remote_code" in msg or "vad_model" in msg)


def test_a_clean_emotion_folder_reaches_funasr_with_remote_code_off(tmp_path, monkeypatch):
    import funasr

    from codec_conformance.metrics.prosody import EmotionAccuracy
    folder = _emotion_dir(tmp_path / "m", "model: Emotion2vec\nmodel_conf: {}\n")
    called = []
    monkeypatch.setattr(funasr, "AutoModel", lambda **kw: called.append(kw))
    EmotionAccuracy(str(folder))
    assert called[0]["trust_remote_code"] is False and called[0]["vad_model"] is None
    assert called[0]["init_param"] == str(folder / "model.pt")


def test_a_whisper_checkpoint_that_is_a_malicious_pickle_is_refused(monkeypatch, tmp_path):
    """A Whisper .pt whose pickle runs a command (``__reduce__`` -> os.system): the old code
    passed it to whisper.load_model (whose safety depended on the installed openai-whisper and
    torch versions; the error, when there was one, was an UnpicklingError from inside whisper).
    Now it is loaded weights-only here, before openai-whisper is imported, and refused with a
    ConformanceError naming the file and the global; nothing runs."""
    import whisper

    from codec_conformance.metrics.asr import OpenAiWhisperAsr
    marker = tmp_path / "pwned"
    pt = tmp_path / "large-v3.pt"
    pt.write_bytes(pickle.dumps({"dims": Marker(marker), "model_state_dict": {}}, protocol=2))  # as torch.save
    called = []
    monkeypatch.setattr(whisper, "load_model", lambda *a, **k: called.append(a))
    with pytest.raises(ConformanceError) as e:
        OpenAiWhisperAsr(str(pt))
    msg = str(e.value)
    assert not marker.exists() and called == []
    assert str(pt) in msg and "weights only" in msg and "system" in msg and "--codec-trust-evaluators" in msg


def test_a_real_whisper_checkpoint_loads_weights_only(tmp_path):
    """A checkpoint as openai-whisper saves it (dims + state dict) loads through the gate."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    from codec_conformance.metrics.asr import OpenAiWhisperAsr
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=8, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51864, n_text_ctx=448, n_text_state=8, n_text_head=2, n_text_layer=1)
    pt = tmp_path / "tiny-test.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, pt)
    asr = OpenAiWhisperAsr(str(pt))
    assert asr.model.dims.n_audio_state == 8 and asr.name == "openai-whisper:tiny-test"


def test_an_ecapa_checkpoint_that_is_not_weights_only_is_refused(tmp_path):
    (tmp_path / "hyperparams.yaml").write_text(ECAPA_YAML)
    (tmp_path / "embedding_model.ckpt").write_bytes(pickle.dumps(Marker(tmp_path / "pwned"), protocol=2))
    with pytest.raises(trust.EvaluatorFileRefused, match="embedding_model.ckpt: a checkpoint that does not load"):
        trust.check_speechbrain_dir(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_the_ecapa_files_are_pinned_at_one_commit():
    assert all(len(s.sha256 or "") == 64 and f"/resolve/{paper.ECAPA_REVISION}/" in s.url for s in paper.ECAPA)


HOSTILE_SPECS = {
    "a call": "__import__('os').system('touch {marker}')",
    "an attribute walk": "[().__class__.__base__]",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SPECS))
def test_an_emotion2vec_config_string_that_funasr_would_eval_is_refused(tmp_path, case):
    """funasr's emotion2vec audio encoder passes ``modalities.audio.feature_encoder_spec`` to
    ``eval()`` (funasr/models/emotion2vec/audio.py): the old gate checked YAML tags and a few
    keys only, so a served config.yaml ran any Python expression when funasr built the model
    (the call case touched a file). Now only integer-tuple layer specs joined by + and * pass."""
    pytest.importorskip("funasr", reason="funasr is not installed (setup.sh installs it --no-deps)")
    from tests import paper_models

    from codec_conformance.metrics.prosody import EmotionAccuracy
    marker = tmp_path / "pwned"
    spec = HOSTILE_SPECS[case].format(marker=marker)
    published = "'[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] + [(16,2,2)]'"
    assert published in paper_models.EMOTION2VEC_CONFIG
    folder = tmp_path / "m"
    folder.mkdir()
    for name, body in paper_models.emotion2vec_files().items():
        (folder / name).write_bytes(body)
    (folder / "config.yaml").write_text(paper_models.EMOTION2VEC_CONFIG.replace(published, repr(spec)))
    with pytest.raises(trust.EvaluatorFileRefused) as e:
        EmotionAccuracy(str(folder))
    assert not marker.exists()
    msg = str(e.value)
    assert "config.yaml" in msg and "feature_encoder_spec" in msg and "eval()" in msg and trust.TRUST_FLAG in msg


@pytest.mark.parametrize("key, value", [("model", "Data2VecEncoder"), ("tokenizer", "SentencepiecesTokenizer"),
                                        ("frontend", "WavFrontend")])
def test_an_emotion2vec_config_naming_another_funasr_class_is_refused(tmp_path, key, value):
    """funasr builds whatever registered class the config names (hundreds; data2vec's encoder
    eval()s its own ``conv_feature_layers``): only the published model's Emotion2vec and
    CharTokenizer, and no frontend, pass. The old gate passed any class."""
    cfg = f"model: Emotion2vec\nmodel_conf: {{}}\ntokenizer: CharTokenizer\n{key}: {value}\n"
    folder = _emotion_dir(tmp_path / "m", cfg.replace("model: Emotion2vec\n", "") if key == "model" else cfg)
    with pytest.raises(trust.EvaluatorFileRefused, match=f"'{key}' = '{value}'"):
        trust.check_funasr_dir(folder)
    trust.check_funasr_dir(folder, trusted=True)   # --codec-trust-evaluators: not checked


def test_the_published_emotion2vec_layer_spec_passes_and_bounded_specs_only():
    ok = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"   # emotion2vec+ large, base, seed
    assert trust._is_layer_spec(ok)
    assert not any(trust._is_layer_spec(s) for s in ("[(1, 2, 3)] + [print(1)]", "[1]", "[(1,2,3)] * 101", "5", "",
                                                      "[(512, 10, 5)] * 1000 * 1000 * 1000"))  # 10**9 layers


def test_an_emotion2vec_token_list_outside_the_folder_is_refused_unless_tokens_txt_replaces_it(tmp_path):
    """funasr reads the folder's tokens.txt in place of the config's ``tokenizer_conf.token_list``
    (a training path in published configs is harmless then); without tokens.txt a path out of
    the folder is refused."""
    cfg = "model: Emotion2vec\nmodel_conf: {}\ntokenizer: CharTokenizer\ntokenizer_conf:\n    token_list: /etc/passwd\n"
    folder = _emotion_dir(tmp_path / "m", cfg)
    trust.check_funasr_dir(folder)
    (folder / "tokens.txt").unlink()
    with pytest.raises(trust.EvaluatorFileRefused, match="token_list"):
        trust.check_funasr_dir(folder)
