#!/usr/bin/env bash
# Run the test suite:  bash test.sh [pytest args]
#   UFN_DATA_DIR=/path/to/data bash test.sh          # offline: datasets from a local folder
#   bash test.sh -m notebooks                        # only the notebook tests
# Provides the Python env (scripts/bootstrap.sh), defaults UFN_DATA_DIR to ../shared/data when
# that folder exists, registers the Jupyter kernel "ufnrec" and runs pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
ufn_default_data_dir
ufn_ensure_kernel
cd "$UFN_ROOT"
echo "[test] python: $(command -v python); UFN_DATA_DIR=${UFN_DATA_DIR:-(unset)}" >&2
exec python -m pytest -q "$@"
