#!/usr/bin/env bash
# One-step setup: creates .venv and installs the pinned stack. No root, no prompts.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
"$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# requirements.lock pins every package (torch 2.13.0: the CPU wheel where one lies in pip's
# find-links, else PyPI's build). Resolved and measured on Python 3.11, x86_64.
python -m pip install -q -r requirements.lock
# Installed without their declared requirements (requirements-nodeps.txt; exceptions to `pip check`):
# - openai-whisper pulls triton (1 GB, useless on CPU); its few needs are in the lock.
# - descript-audiotools pins protobuf<3.20, which onnxruntime and tensorboard have outgrown; DAC
#   works with the lock's protobuf (tested by tests/unit/codecs/test_neural.py). Its other needs are in the lock.
# - funcodec 0.2.0 pins editdistance==0.5.2, which does not build on Python 3.11; what it needs at
#   import (typeguard 2.13.3, kaldiio, torch-complex, ...) is in the lock.
# - espnet 202511 (for its HiFi-Codec) would pull a whole toolkit; its codec modules need only the lock.
# - funasr 1.4.16 (emotion2vec, --codec-evaluators paper) pulls modelscope, transformers, tiktoken, umap-learn,
#   oss2 and websockets, none used for emotion2vec inference; what it imports (omegaconf, hydra-core, jaconv,
#   jamo, sentencepiece, kaldiio, torch-complex) is in the lock (tests/unit/test_fetch.py imports AutoModel).
python -m pip install -q --no-deps --no-build-isolation -r requirements-nodeps.txt
# torchaudio 2.11's compiled extension is built against CUDA 13 and fails to load beside a CPU
# torch; resample/mel/lfilter work without it (see ../shared/docs/dependency-notes.md).
scripts/cpu_torchaudio.sh python
python -m pip install -q --no-deps --no-build-isolation -e .
python -c "import codec_conformance, torch, torchaudio, av; print('codec-conformance', codec_conformance.__version__, 'torch', torch.__version__, 'ready in .venv')"
