#!/usr/bin/env bash
# torchaudio 2.11's compiled extension is a CUDA 13 build that fails to load beside a CPU torch
# (`import torchaudio` raises OSError), and EnCodec and DAC import torchaudio. Resampling, mel,
# lfilter - all the codecs use - work without it (../shared/docs/dependency-notes.md), so where the
# import fails this removes the extension. Usage: scripts/cpu_torchaudio.sh [PYTHON] (default: python).
set -euo pipefail
PY="${1:-python}"
if "$PY" -c "import torch, torchaudio" 2>/dev/null; then
    exit 0
fi
SITE="$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")"
rm -f "$SITE"/torchaudio/lib/*.so
"$PY" -c "import torch, torchaudio" || { echo "torchaudio still does not import in $SITE" >&2; exit 1; }
echo "removed torchaudio's compiled extension from $SITE (a CUDA build beside a CPU torch)"
