#!/usr/bin/env bash
# Execute the numbered notebooks and render them:
#
#   bash run_all.sh [--profile smoke|quick|paper] [--fresh] [--report-only] [--only NN]...
#
#   --profile P  passed to every notebook as its `profile` parameter (default: quick)
#   --fresh      compute everything again into a new, empty results folder
#                (<results>/fresh-<UTC time>) instead of reusing the cached runs
#   --only NN    run only notebooks/NN_*.ipynb (repeatable)
#   --report-only  train nothing: tables and figures from the runs cached so far, the missing
#                runs listed in each notebook (its `compute` parameter set to False)
#
# notebooks/NN_*.ipynb run in numeric order with papermill (kernel "ufnrec", working folder
# notebooks/). Executed copies go to <results>/executed/<profile>/NN_name.ipynb, an HTML
# rendering beside each, and <results>/index.html links them. <results> is $UFN_RESULTS_DIR
# when set, else results/. Notebooks in notebooks/ are never modified. The first failure stops
# the run, naming the notebook, the failing cell and the executed copy to inspect.
set -euo pipefail

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "run_all: $*" >&2; exit 2; }

profile="quick"; fresh=0; only=(); report_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || die "--profile needs a value (smoke|quick|paper)"; profile="$2"; shift 2 ;;
        --profile=*) profile="${1#*=}"; shift ;;
        --fresh) fresh=1; shift ;;
        --report-only) report_only=1; shift ;;
        --only) [ $# -ge 2 ] || die "--only needs a notebook number, e.g. --only 00"; only+=("$2"); shift 2 ;;
        --only=*) only+=("${1#*=}"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done
case "$profile" in smoke|quick|paper) ;; *) die "unknown profile '$profile' (smoke|quick|paper)" ;; esac
for o in ${only[@]+"${only[@]}"}; do
    case "$o" in ''|*[!0-9]*) die "--only expects a notebook number such as 00 or 1, got '$o'" ;; esac
done

source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
ufn_default_data_dir
ufn_ensure_kernel
cd "$UFN_ROOT"

results="${UFN_RESULTS_DIR:-$UFN_ROOT/results}"
if [ "$fresh" = 1 ]; then
    results="$results/fresh-$(date -u +%Y%m%dT%H%M%SZ)"
    [ -e "$results" ] && die "$results already exists; wait a second and rerun"
    mkdir -p "$results"
    echo "run_all: --fresh: computing into the new, empty folder $results"
fi
export UFN_RESULTS_DIR="$results"

notebooks=()
for nb in notebooks/[0-9][0-9]_*.ipynb; do
    [ -e "$nb" ] || continue
    num="$(basename "$nb" | cut -c1-2)"
    if [ ${#only[@]} -gt 0 ]; then
        keep=0
        for o in "${only[@]}"; do [ "$(printf '%02d' "$((10#$o))")" = "$num" ] && keep=1; done
        [ "$keep" = 1 ] || continue
    fi
    notebooks+=("$nb")
done
[ ${#notebooks[@]} -gt 0 ] || die "no notebooks to run (notebooks/NN_*.ipynb${only[*]:+ matching --only ${only[*]}})"

out="$results/executed/$profile"
mkdir -p "$out"
status_file="$(mktemp)"
trap 'rm -f "$status_file"' EXIT
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
compute_arg=(); [ "$report_only" = 1 ] && compute_arg=(-p compute False)
progress="--no-progress-bar"; [ -t 2 ] && progress="--progress-bar"

echo "run_all: profile $profile, ${#notebooks[@]} notebook(s), results in $results, data in ${UFN_DATA_DIR:-(UFN_DATA_DIR unset: cache/download)}"
i=0
for nb in "${notebooks[@]}"; do
    i=$((i + 1))
    name="$(basename "$nb" .ipynb)"
    dest="$out/$name.ipynb"
    echo "[$i/${#notebooks[@]}] $nb (profile $profile) -> $dest"
    t0=$SECONDS
    if python -m papermill "$nb" "$dest" -p profile "$profile" "${compute_arg[@]}" -k ufnrec --language python --cwd notebooks $progress; then
        status=ok
    else
        status=failed
    fi
    secs=$((SECONDS - t0))
    printf '%s\t%s\t%s\n' "$name" "$status" "$secs" >> "$status_file"
    python -m nbconvert --to html --log-level WARN "$dest" --output-dir "$out" >/dev/null 2>&1 \
        || echo "run_all: warning: could not render $dest to HTML" >&2
    if [ "$status" != ok ]; then
        python -m ufnlib.report index --profile "$profile" --status-file "$status_file" --started "$started" >/dev/null || true
        {
            echo
            echo "run_all: FAILED: $nb (profile $profile) after ${secs} s"
            if [ -f "$dest" ]; then
                python -m ufnlib.report failure "$dest" || true
                echo "inspect the executed copy: $dest"
                [ -f "$out/$name.html" ] && echo "                  or: $out/$name.html"
            fi
        } >&2
        exit 1
    fi
    echo "      ok in ${secs} s -> $out/$name.html"
done
index="$(python -m ufnlib.report index --profile "$profile" --status-file "$status_file" --started "$started")"
echo "run_all: all ${#notebooks[@]} notebook(s) ran under profile $profile; index: $index"
