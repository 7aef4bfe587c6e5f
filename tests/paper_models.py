"""Tiny models in the real upstream formats of the paper's evaluators (``--codec-evaluators paper``),
generated here, never committed, for the tests that run paper mode end to end
(tests/integration/test_paper_mode.py) and the loader tests (tests/unit/metrics/test_paper_models.py).

- Whisper: an ``openai-whisper`` checkpoint ``{"dims": ..., "model_state_dict": ...}`` (what
  ``whisper.load_model`` reads) of ``whisper.model.Whisper(ModelDimensions(...))`` with large-v3's
  mel bins, audio context and vocabulary (so the tokenizer, the mel filters and the 30 s window are
  the real ones) but one layer of width 16;
- ECAPA: the files of ``speechbrain/spkrec-ecapa-voxceleb`` (hyperparams.yaml in the published
  layout: the same keys, classes, normalisations and Pretrainer loadables, with small channel
  counts; embedding_model.ckpt, mean_var_norm_emb.ckpt, classifier.ckpt as speechbrain saves them;
  label_encoder.txt written by speechbrain's own ``CategoricalEncoder``);
- emotion2vec: the files of ``emotion2vec/emotion2vec_plus_large`` as funasr reads them
  (config.yaml with ``model: Emotion2vec``, its ``model_conf`` and ``modalities.audio`` keys, the
  published feature-encoder spec; model.pt as ``{"model": state_dict}``; tokens.txt with the
  nine emotion2vec+ classes in their ``<Chinese>/<english>`` form).

All weights are random (seeded): what these models output is meaningless. A test that scores
speech with them checks the pipeline (download, pins, gates, loading, scoring, results), never
the evaluator's accuracy.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

from tests.fetch_helpers import sha

SEED = 0

# whisper.model.ModelDimensions of large-v3 except the widths and depths (large-v3: 1280 wide, 32 layers)
WHISPER_DIMS = dict(n_mels=128, n_audio_ctx=1500, n_audio_state=16, n_audio_head=2, n_audio_layer=1,
                    n_vocab=51866, n_text_ctx=448, n_text_state=16, n_text_head=2, n_text_layer=1)
WHISPER_EOT_AFTER = 7   # decoder positions: 3 of the prompt (<|startoftranscript|><|en|><|transcribe|>), then 4 free

# The published hyperparams.yaml of speechbrain/spkrec-ecapa-voxceleb, its structure kept (keys,
# classes, Pretrainer loadables and paths), its sizes made small (published: channels
# [1024, 1024, 1024, 1024, 3072], attention_channels 128, lin_neurons 192, 7205 speakers).
ECAPA_HYPERPARAMS = """\
# ############################################################################
# Model: ECAPA big for Speaker verification (codec-conformance test model: small, random weights)
# ############################################################################

# Feature parameters
n_mels: 80

# Pretrain folder (HuggingFace)
pretrained_path: speechbrain/spkrec-ecapa-voxceleb

# Output parameters
out_n_neurons: 4

# Model params
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
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""
ECAPA_SPEAKERS = ("id10001", "id10002", "id10003", "id10004")

# emotion2vec+ config.yaml as funasr reads it (model class, model_conf, modalities.audio, tokenizer):
# the published keys and feature-encoder spec, depth 1 and width 16 (published large: 1024 wide).
EMOTION2VEC_CONFIG = """\
# network architecture
model: Emotion2vec
model_conf:
    loss_beta: 0.0
    loss_scale: null
    depth: 1
    start_drop_path_rate: 0.0
    end_drop_path_rate: 0.0
    num_heads: 2
    norm_eps: 1e-05
    norm_affine: true
    encoder_dropout: 0.1
    post_mlp_drop: 0.1
    attention_dropout: 0.1
    activation_dropout: 0.0
    dropout_input: 0.0
    layerdrop: 0.05
    embed_dim: 16
    mlp_ratio: 2.0
    layer_norm_first: false
    average_top_k_layers: 1
    end_of_block_targets: false
    clone_batch: 1
    layer_norm_target_layer: false
    batch_norm_target_layer: false
    instance_norm_target_layer: true
    instance_norm_targets: false
    layer_norm_targets: false
    normalize: true
    modalities:
        audio:
            type: AUDIO
            prenet_depth: 1
            prenet_layerdrop: 0.05
            prenet_dropout: 0.1
            start_drop_path_rate: 0.0
            end_drop_path_rate: 0.0
            num_extra_tokens: 10
            init_extra_token_zero: true
            mask_noise_std: 0.01
            mask_prob_min: null
            mask_prob: 0.5
            inverse_mask: false
            mask_prob_adjust: 0.05
            keep_masked_pct: 0.0
            mask_length: 5
            add_masks: false
            remove_masks: false
            mask_dropout: 0.0
            encoder_zero_mask: true
            mask_channel_prob: 0.0
            mask_channel_length: 64
            ema_local_encoder: false
            local_grad_mult: 1.0
            use_alibi_encoder: true
            alibi_scale: 1.0
            learned_alibi: false
            alibi_max_pos: null
            learned_alibi_scale: true
            learned_alibi_scale_per_head: true
            learned_alibi_scale_per_layer: false
            num_alibi_heads: 2
            model_depth: 1
            decoder:
                decoder_dim: 8
                decoder_groups: 4
                decoder_kernel: 7
                decoder_layers: 1
                input_dropout: 0.1
                add_positions_masked: false
                add_positions_all: false
                decoder_residual: true
                projection_layers: 1
                projection_ratio: 2.0
            extractor_mode: layer_norm
            feature_encoder_spec: '[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] + [(16,2,2)]'
            conv_pos_width: 95
            conv_pos_groups: 4
            conv_pos_depth: 1
            conv_pos_pre_ln: false

tokenizer: CharTokenizer
tokenizer_conf:
    unk_symbol: <unk>
    split_with_space: true
"""
# emotion2vec+'s nine classes (iic/emotion2vec_plus_*), in their published form
EMOTION2VEC_TOKENS = ("生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral",
                      "其他/other", "难过/sad", "吃惊/surprised", "<unk>")


def _torch_bytes(obj) -> bytes:
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def whisper_checkpoint() -> bytes:
    """A ``large-v3.pt`` as openai-whisper saves its models (tiny, random)."""
    import torch
    from whisper.model import ModelDimensions, Whisper
    from whisper.tokenizer import get_tokenizer
    torch.manual_seed(SEED)
    model = Whisper(ModelDimensions(**WHISPER_DIMS))
    state = model.state_dict()
    # Whisper leaves the decoder's positional embedding uninitialised (torch.empty: its values come
    # from the checkpoint); here it is random, except from position EOT_AFTER on, where it points at
    # the end-of-text token's embedding: every transcript ends after a few tokens (a random model
    # would otherwise decode 224 tokens per window, seconds per utterance). The first tokens still
    # depend on the audio through cross-attention.
    eot = get_tokenizer(multilingual=True, num_languages=WHISPER_DIMS["n_vocab"] - 51765 - 1).eot
    emb, pos = state["decoder.token_embedding.weight"], state["decoder.positional_embedding"]
    emb[eot] *= 3.0
    pos.copy_(0.1 * torch.randn(pos.shape, generator=torch.Generator().manual_seed(SEED)))
    pos[WHISPER_EOT_AFTER:] = 50.0 * emb[eot] / emb[eot].norm()
    return _torch_bytes({"dims": dict(WHISPER_DIMS), "model_state_dict": state})


def ecapa_files() -> dict[str, bytes]:
    """The five files of speechbrain/spkrec-ecapa-voxceleb (tiny, random), by file name."""
    import torch
    from speechbrain.dataio.encoder import CategoricalEncoder
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
    from speechbrain.processing.features import InputNormalization
    torch.manual_seed(SEED)
    embedding = ECAPA_TDNN(80, channels=[16, 16, 16, 16, 48], kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
                           attention_channels=8, lin_neurons=12)
    classifier = Classifier(input_size=12, out_neurons=len(ECAPA_SPEAKERS))
    files = {"hyperparams.yaml": ECAPA_HYPERPARAMS.encode(),
             "embedding_model.ckpt": _torch_bytes(embedding.state_dict()),
             "classifier.ckpt": _torch_bytes(classifier.state_dict())}
    norm = InputNormalization(norm_type="global", std_norm=False)
    norm(torch.randn(4, 7, 12), torch.ones(4))   # global statistics of a few random embeddings
    with tempfile.TemporaryDirectory() as d:
        norm._save(Path(d, "mvn.ckpt"))          # as speechbrain's checkpointer saves it
        files["mean_var_norm_emb.ckpt"] = Path(d, "mvn.ckpt").read_bytes()
        enc = CategoricalEncoder()
        enc.update_from_iterable(ECAPA_SPEAKERS)
        enc.save(Path(d, "label_encoder.txt"))
        files["label_encoder.txt"] = Path(d, "label_encoder.txt").read_bytes()
    return files


def emotion2vec_files() -> dict[str, bytes]:
    """config.yaml, model.pt and tokens.txt of emotion2vec/emotion2vec_plus_large (tiny, random)."""
    import torch
    import yaml
    from funasr.models.emotion2vec.model import Emotion2vec
    torch.manual_seed(SEED)
    conf = yaml.safe_load(EMOTION2VEC_CONFIG)
    model = Emotion2vec(model_conf=conf["model_conf"], vocab_size=len(EMOTION2VEC_TOKENS))
    return {"config.yaml": EMOTION2VEC_CONFIG.encode(),
            "model.pt": _torch_bytes({"model": model.state_dict()}),
            "tokens.txt": "".join(t + "\n" for t in EMOTION2VEC_TOKENS).encode()}


def paper_files() -> dict[str, bytes]:
    """Every file of ``--codec-evaluators paper`` (tiny, random), by its canonical URL."""
    from codec_conformance.metrics import paper
    out = {paper.WHISPER_LARGE_V3.url: whisper_checkpoint()}
    for group, files in ((paper.ECAPA, ecapa_files()), (paper.EMOTION2VEC, emotion2vec_files())):
        for src in group:
            out[src.url] = files[src.url.rsplit("/", 1)[1]]
    return out


def pins(files: dict[str, bytes]) -> dict[str, str]:
    """URL -> SHA-256 of the generated files (what a test pins in place of the published digests)."""
    return {url: sha(body) for url, body in files.items()}


def ravdess_folder(root: Path, n_actors: int = 2, emotions: tuple[str, ...] = ("01", "03", "04", "05")) -> Path:
    """A RAVDESS-layout folder (``Actor_AA/03-01-EE-01-01-01-AA.wav``) of real speech: utterances of
    the shipped LibriSpeech corpus under RAVDESS names (so the emotion labels are names only: the
    speech is not acted emotion). For pipeline checks of the emotion metric."""
    import soundfile as sf

    from codec_conformance.data.shipped import load_shipped_speech
    corpus = load_shipped_speech(n_actors, len(emotions))
    for a, speaker in enumerate(corpus.speakers, start=1):
        items = [u for u in corpus.items if u.speaker == speaker]
        folder = Path(root) / f"Actor_{a:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for emotion, u in zip(emotions, items):
            sf.write(folder / f"03-01-{emotion}-01-01-01-{a:02d}.wav", u.audio, corpus.sample_rate)
    return Path(root)
