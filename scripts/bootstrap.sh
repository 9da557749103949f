# shellcheck shell=bash
# Provide the project's Python environment. Sourced (not executed) by test.sh and run_all.sh:
#
#   source scripts/bootstrap.sh
#
# 1. If a virtualenv or conda env other than the repo's own .venv is active and it has torch
#    2.13.0, papermill and ipykernel, use it as it is.
# 2. Otherwise use <repo>/.venv: create it if missing (python3 -m venv), and install the pinned
#    requirements plus an editable ufnlib when the stamp file .venv/.ufnrec-stamp (sha256 of
#    requirements.txt + pyproject.toml + the venv's path) differs from the current one.
# Then `python` on PATH is the env's, the checkout is first on PYTHONPATH (so a kernel started
# from any folder imports this checkout's ufnlib), and relative UFN_DATA_DIR / UFN_RESULTS_DIR
# are made absolute (notebooks run with notebooks/ as their working folder).
#
# Sets UFN_ROOT (the repo root). Defines ufn_default_data_dir and ufn_ensure_kernel.
# Environment knobs: UFN_PYTHON (interpreter used to create .venv; default python3),
# UFN_REQUIRED_TORCH (default 2.13.0).

UFN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export UFN_ROOT
UFN_KERNEL_NAME="ufnrec"
: "${UFN_REQUIRED_TORCH:=2.13.0}"

_ufn_say() { echo "[bootstrap] $*" >&2; }

# Print "ok" if the python on PATH has the packages the suite needs (without importing torch,
# which takes seconds): torch at the pinned version and the other packages of requirements.txt.
_ufn_env_ok() {
    python - "$UFN_REQUIRED_TORCH" <<'PY' 2>/dev/null
import importlib.metadata as md, importlib.util as iu, sys
want = sys.argv[1]
try:
    torch = md.version("torch").split("+")[0]
except md.PackageNotFoundError:
    sys.exit(1)
mods = ("numpy", "pandas", "scipy", "matplotlib", "seaborn", "tqdm", "torch_ema", "papermill",
        "nbconvert", "ipykernel", "pytest", "nbval")
if torch == want and all(iu.find_spec(m) for m in mods):
    print("ok")
PY
}

_ufn_absolutize() {  # make a relative path variable absolute (relative to the caller's cwd)
    local name="$1" val="${!1:-}"
    if [ -n "$val" ] && [ "${val#/}" = "$val" ]; then
        if [ -d "$val" ]; then
            printf -v "$name" '%s' "$(cd "$val" && pwd)"
        else
            printf -v "$name" '%s' "$PWD/$val"
        fi
        export "${name?}"
    fi
}

_ufn_stamp() {
    { cat "$UFN_ROOT/requirements.txt" "$UFN_ROOT/pyproject.toml"; echo "venv=$UFN_ROOT/.venv"; } \
        | sha256sum | cut -d' ' -f1
}

_ufn_use_venv() {
    local venv="$UFN_ROOT/.venv" stamp_file="$UFN_ROOT/.venv/.ufnrec-stamp" want have=""
    if [ ! -x "$venv/bin/python" ]; then
        local py="${UFN_PYTHON:-python3}"
        command -v "$py" >/dev/null 2>&1 || { _ufn_say "error: $py not found; set UFN_PYTHON to a Python >= 3.10"; return 1; }
        _ufn_say "creating $venv with $($py --version 2>&1)"
        "$py" -m venv "$venv" || { _ufn_say "error: '$py -m venv $venv' failed"; return 1; }
    fi
    want="$(_ufn_stamp)"
    [ -f "$stamp_file" ] && have="$(cat "$stamp_file")"
    if [ "$want" != "$have" ]; then
        _ufn_say "installing pinned requirements into $venv (requirements.txt or pyproject.toml changed)"
        rm -f "$stamp_file"
        ( cd "$UFN_ROOT" \
          && "$venv/bin/python" -m pip install -q -r requirements.txt \
          && "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e . ) \
            || { _ufn_say "error: pip install failed (see above); fix and rerun"; return 1; }
        echo "$want" > "$stamp_file"
    fi
    export VIRTUAL_ENV="$venv"
    export PATH="$venv/bin:$PATH"
    unset PYTHONHOME
    hash -r
}

_ufn_bootstrap() {
    local active="${VIRTUAL_ENV:-${CONDA_PREFIX:-}}"
    if [ -n "$active" ] && [ "$active" != "$UFN_ROOT/.venv" ]; then
        if [ "$(_ufn_env_ok)" = "ok" ]; then
            _ufn_say "using the active environment $active"
        else
            _ufn_say "active environment $active lacks torch==$UFN_REQUIRED_TORCH/papermill/...; using $UFN_ROOT/.venv"
            _ufn_use_venv || return 1
        fi
    else
        _ufn_use_venv || return 1
    fi
    export PYTHONPATH="$UFN_ROOT${PYTHONPATH:+:$PYTHONPATH}"
    _ufn_absolutize UFN_DATA_DIR
    _ufn_absolutize UFN_RESULTS_DIR
    return 0
}

# Set UFN_DATA_DIR to <repo>/../shared/data when it is unset and that folder exists.
ufn_default_data_dir() {
    if [ -z "${UFN_DATA_DIR:-}" ] && [ -d "$UFN_ROOT/../shared/data" ]; then
        UFN_DATA_DIR="$(cd "$UFN_ROOT/../shared/data" && pwd)"
        export UFN_DATA_DIR
    fi
}

# Register the Jupyter kernel "ufnrec" inside the active env (--sys-prefix: self-contained, no
# files in ~), unless a kernel of that name already starts this env's python.
ufn_ensure_kernel() {
    local prefix spec
    prefix="$(python -c 'import sys; print(sys.prefix)')" || return 1
    spec="$prefix/share/jupyter/kernels/$UFN_KERNEL_NAME/kernel.json"
    if [ -f "$spec" ] && grep -qF "\"$(python -c 'import sys; print(sys.executable)')\"" "$spec"; then
        return 0
    fi
    _ufn_say "registering Jupyter kernel '$UFN_KERNEL_NAME' in $prefix"
    python -m ipykernel install --sys-prefix --name "$UFN_KERNEL_NAME" \
        --display-name "Python (ufnrec)" >/dev/null \
        || { _ufn_say "error: could not register the Jupyter kernel '$UFN_KERNEL_NAME'"; return 1; }
}

_ufn_bootstrap || return 1 2>/dev/null || exit 1
