#!/usr/bin/env bash
# One short session on a borrowed GPU machine (a 10-minute command): measure bundles, then compute
# the paper profile's missing runs in bundles, and leave everything under $OUT.
#
#   OUT=/path UFN_DATA_DIR=/data bash scripts/device_session.sh
#
# 1. benchmarks/bench_bundle.py on the device: run-epochs per second of a single run and of
#    bundles of K runs (KS, default "1 8 32"), SASRec `ufn` on DATASET (default beauty); the
#    report goes to $OUT/benchmarks (copy it into results/benchmarks/ back home).
# 2. scripts/gpu_grid.py --profile paper --bundle BUNDLE: the runs this checkout's results/ lacks,
#    in bundles, records archived to $OUT/grid/runs.tar.gz with the checkpoints of unfinished runs
#    (back home: python -m ufnlib grid --import runs.tar.gz; they resume on the CPU or in a bundle).
# Time caps (seconds): BENCH_S for step 1, GRID_S for step 2 (its deadline; no bundle starts after
# GRID_START_S, counted from the script's start, smoke tests included). UFN_DEVICE (default cuda) picks the device; on a CPU it runs the same steps.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${OUT:?set OUT to the folder that comes back}"
PY=${PYTHON:-python3}
DEV=${UFN_DEVICE:-cuda}
DATASET=${DATASET:-beauty}
mkdir -p "$OUT/benchmarks" "$OUT/grid"
echo "[device] $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), device $DEV" \
    | tee "$OUT/session.log"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>&1 | tee -a "$OUT/session.log"

# shellcheck disable=SC2086  # KS is a list of numbers
timeout "${BENCH_S:-240}" $PY benchmarks/bench_bundle.py --device "$DEV" --dataset "$DATASET" \
    --ks ${KS:-1 8 32} --epochs "${EPOCHS:-3}" --warm "${WARM:-1}" --threads 1 --out "$OUT/benchmarks" \
    2>&1 | tail -n 40 | tee -a "$OUT/session.log"

UFN_DEVICE=$DEV timeout $(( ${GRID_S:-300} + 60 )) $PY scripts/gpu_grid.py --out "$OUT/grid" \
    --profile "${PROFILE:-paper}" --bundle "${BUNDLE:-32}" --workers "${WORKERS:-2}" --checkpoints \
    --deadline "${GRID_S:-300}" --start-until "${GRID_START_S:-150}" --every 60 \
    2>&1 | tail -n 40 | tee -a "$OUT/session.log"
echo "[device] done $(date -u +%FT%TZ)" | tee -a "$OUT/session.log"
