#!/usr/bin/env bash
# Regenerate the paper's tables and figures by executing the numbered notebooks:
#
#   bash run_all.sh [--profile paper|quick|smoke] [--compute | --report-only] [--fresh]
#                   [--only NN]... [--verbose]
#
#   (no argument)  profile paper, report only: every table and figure from the runs in the
#                  cache, nothing trained; missing runs are listed with the command computing them
#   --profile P    paper (default), quick (SASRec on Beauty, seed 1) or smoke (synthetic data,
#                  tiny models: what the tests use); quick and smoke train what they miss
#   --compute      train the missing runs of the profile first (paper: days on a laptop)
#   --report-only  train nothing, whatever the profile (the notebooks' `compute = False`)
#   --fresh        compute everything again into a new, empty results folder
#                  (<results>/fresh-<UTC time>) instead of reusing the cached runs
#   --only NN      run only notebooks/NN_*.ipynb (repeatable)
#   --verbose      show papermill's and the kernels' output instead of one line per notebook
#
# Each profile writes into <results>/<profile>/: tables/, figures/, notebooks/ (the executed
# copies and their HTML), summary.md (every claim of the paper with its verdict) and
# run_all.log (everything the notebooks printed). <results> is $UFN_RESULTS_DIR when set, else
# results/; the run cache <results>/runs/ is shared by all profiles. Notebooks in notebooks/ are
# never modified. The first failure stops the run, naming the notebook, the failing cell and
# the executed copy to inspect. The paper profile in results/ then regenerates results/facts.json,
# README.md and docs/ (scripts/facts.py, scripts/update_readme.py).
set -euo pipefail

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "run_all: $*" >&2; exit 2; }

profile="paper"; fresh=0; only=(); compute=""; verbose=0
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || die "--profile needs a value (paper|quick|smoke)"; profile="$2"; shift 2 ;;
        --profile=*) profile="${1#*=}"; shift ;;
        --compute) compute=True; shift ;;
        --report-only) compute=False; shift ;;
        --fresh) fresh=1; shift ;;
        --verbose|-v) verbose=1; shift ;;
        --only) [ $# -ge 2 ] || die "--only needs a notebook number, e.g. --only 00"; only+=("$2"); shift 2 ;;
        --only=*) only+=("${1#*=}"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done
case "$profile" in smoke|quick|paper) ;; *) die "unknown profile '$profile' (paper|quick|smoke)" ;; esac
for o in ${only[@]+"${only[@]}"}; do
    case "$o" in ''|*[!0-9]*) die "--only expects a notebook number such as 00 or 1, got '$o'" ;; esac
done
# training is explicit: the paper profile reports from the cache unless --compute is given
[ -n "$compute" ] || { [ "$profile" = paper ] && compute=False || compute=True; }
[ "$fresh" = 1 ] && [ "$compute" = False ] && die "--fresh computes everything anew; it cannot go with report-only (use --compute)"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
results="${UFN_RESULTS_DIR:-$root/results}"
case "$results" in /*) ;; *) results="$PWD/$results" ;; esac
if [ "$fresh" = 1 ]; then
    results="$results/fresh-$(date -u +%Y%m%dT%H%M%SZ)"
    [ -e "$results" ] && die "$results already exists; wait a second and rerun"
fi
mkdir -p "$results/$profile"
log="$results/$profile/run_all.log"
: > "$log"

say() { echo "$*"; echo "$*" >> "$log"; }
t_setup=$SECONDS
[ -x "$root/.venv/bin/python" ] || say "run_all: first run: creating the Python environment in .venv (about a minute)"
# the environment's own messages (pip, kernel registration) go to the log; its errors too
if ! { source "$root/scripts/bootstrap.sh" && ufn_default_data_dir && ufn_ensure_kernel; } >> "$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "setting up the Python environment failed (full log: $log)"
fi
cd "$UFN_ROOT"
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

out="$results/$profile/notebooks"
mkdir -p "$out"
status_file="$(mktemp)"
trap 'rm -f "$status_file"' EXIT
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ "$compute" = True ]; then mode="computing the missing runs"; else mode="report only (nothing trained)"; fi
progress="--no-progress-bar"; [ "$verbose" = 1 ] && [ -t 2 ] && progress="--progress-bar"

say "run_all: profile $profile, ${#notebooks[@]} notebook(s), $mode; environment ready in $((SECONDS - t_setup)) s"
if [ -n "${UFN_DATA_DIR:-}" ]; then data_from="UFN_DATA_DIR ($UFN_DATA_DIR)"; else data_from="the project cache / download"; fi
say "         data from $data_from; report in $results/$profile"
# tidy the executed copies and render them to HTML, all in one process (after the loop, or at a failure)
executed=()
finish_notebooks() {
    [ ${#executed[@]} -gt 0 ] || return 0
    python -m ufnlib.analysis.runindex finish --html-dir "$out" "${executed[@]}" >> "$log" 2>&1 \
        || echo "run_all: warning: could not tidy or render the executed notebooks" >> "$log"
}
i=0
for nb in "${notebooks[@]}"; do
    i=$((i + 1))
    name="$(basename "$nb" .ipynb)"
    dest="$out/$name.ipynb"
    printf '[%d/%d] %-30s ' "$i" "${#notebooks[@]}" "$name"
    echo "=== [$i/${#notebooks[@]}] $nb -> $dest" >> "$log"
    t0=$SECONDS
    cmd=(python -m papermill "$nb" "$dest" -p profile "$profile" -p compute "$compute" -k ufnrec
         --language python --cwd notebooks $progress)
    if [ "$verbose" = 1 ]; then
        echo
        if "${cmd[@]}" 2>&1 | tee -a "$log"; then status=ok; else status=failed; fi
    else
        if "${cmd[@]}" >> "$log" 2>&1; then status=ok; else status=failed; fi
    fi
    secs=$((SECONDS - t0))
    printf '%s\t%s\t%s\n' "$name" "$status" "$secs" >> "$status_file"
    executed+=("$dest")
    echo "$status  $(printf '%4d' "$secs") s" | tee -a "$log"
    if [ "$status" != ok ]; then
        finish_notebooks
        python -m ufnlib.analysis.runindex index --profile "$profile" --status-file "$status_file" --started "$started" \
            --mode "$mode" >> "$log" 2>&1 || true
        {
            echo
            echo "run_all: FAILED: $nb (profile $profile) after ${secs} s"
            if [ -f "$dest" ]; then
                python -m ufnlib.analysis.runindex failure "$dest" || true
                echo "inspect the executed copy: $dest"
                [ -f "$out/$name.html" ] && echo "                  or: $out/$name.html"
            fi
            echo "full log: $log"
        } | tee -a "$log" >&2
        exit 1
    fi
done
finish_notebooks
index="$(python -m ufnlib.analysis.runindex index --profile "$profile" --status-file "$status_file" --started "$started" --mode "$mode")"
echo
python -m ufnlib.analysis.runindex summary --profile "$profile" | tee -a "$log"
# the paper profile in the repository's own results folder: the README and docs/ follow the tables
if [ "$profile" = paper ] && [ "$results" = "$root/results" ]; then
    if python scripts/facts.py >> "$log" 2>&1 && python scripts/update_readme.py >> "$log" 2>&1; then
        say "run_all: results/facts.json, README.md and docs/ regenerated from the tables (git diff shows what moved)"
    else
        say "run_all: warning: regenerating README.md and docs/ failed (see $log)"
    fi
fi
say "run_all: ${#notebooks[@]} notebook(s) ran in $((SECONDS - t_setup)) s. Report: $index; full log: $log"
