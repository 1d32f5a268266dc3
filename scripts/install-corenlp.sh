#!/usr/bin/env bash
# Install the Stanford CoreNLP 3.6.0 jars SPICE (and so SPIDEr) needs, from an archive already on this machine
# (nothing is downloaded): scripts/install-corenlp.sh /path/to/stanford-corenlp-full-2015-12-09.zip [DEST]
# DEST defaults to $DEPALM_CORENLP_DIR, else pycocoevalcap's spice/lib: the folder the SPICE probe reads.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)  # paths stay relative to the caller's folder
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: scripts/install-corenlp.sh /path/to/stanford-corenlp-full-2015-12-09.zip [DEST]" >&2
  exit 2
fi
PY=${PYTHON:-python}
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m benchmarks.metrics.spice_setup install "$1" ${2:+--dest "$2"}
