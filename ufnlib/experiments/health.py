"""Is a finished run usable? A run record -> its warning marks, each in words with its fix, and
the summary ``python -m ufnlib train`` prints. The same marks label the runs of the notebooks'
tables (``marks_text``), so a table never hides a run that failed.

Marks (``code``):
  failed      validation never rose above 2 x chance (the level the validation warm-up asks
              before it calls a backbone trained): the model is no better than a random ranking
  flat_start  early stopping after fewer than 3,000 optimizer steps, possibly inside the flat
              start of the learning curve (``training.train.stopped_after_few_steps``)
  runaway     runaway mining (``negatives.diagnostics.runaway``)
  cap         the epoch cap ended a run that was still improving (``Record.cut_by_cap``)
"""
from __future__ import annotations

from dataclasses import dataclass

from ..negatives.diagnostics import chance_level
from ..training.train import WARMUP_MIN_LIFT
from .store import as_record

SHOWN = ("hr@10", "ndcg@10", "mrr")


@dataclass(frozen=True)
class Mark:
    code: str       # failed | flat_start | runaway | cap
    words: str      # what happened, with the run's numbers
    fix: str        # what to do about it

    def __str__(self) -> str:
        return f"{self.words} Fix: {self.fix}"


def valid_chance(rec) -> float:
    """Chance level of the selection metric on sampled validation."""
    r = as_record(rec)
    return chance_level(r.field("select_metric"), r.field("eval_neg"))


def is_failed(rec) -> bool:
    """Did validation stay at chance (best below ``WARMUP_MIN_LIFT`` x chance)?"""
    r = as_record(rec)
    return r.best_score < WARMUP_MIN_LIFT * valid_chance(r)


def marks(rec) -> list[Mark]:
    """The warning marks of a run record, the failure first (a record without its selection,
    e.g. a test's stand-in, gets only the marks its fields allow)."""
    r = as_record(rec)
    out, metric, cap = [], r.field("select_metric").upper(), r.field("max_epochs")
    sel = r.get("selection") or {}
    known = {"best_score", "best_epoch", "epochs_run"} <= set(sel)
    steps = sel.get("steps")
    flat = r.few_steps_stop
    if known and is_failed(r):
        if flat:
            fix = ("train past the flat start: --set patience_min_steps=3000 or more (the new_data "
                   "preset's value)")
        elif r.epochs_run >= cap:
            fix = f"the epoch cap ended the run: --set max_epochs={2 * cap}"
        else:
            fix = (f"let it train longer before patience counts: --set patience_min_steps="
                   f"{max(2 * (steps or 0), 3000)}, and check the data: each user's events in time order, "
                   f"the same id for the same item")
        out.append(Mark("failed", f"validation {metric} never rose clearly above chance: best {r.best_score:.4f}, "
                                  f"under {WARMUP_MIN_LIFT:g} x the chance level {valid_chance(r):.4f}. The model "
                                  f"ranks about as well as a random ranking.", fix))
    if flat:
        out.append(Mark("flat_start", f"stopped by patience after {f'{steps:,}' if steps is not None else '?'} "
                                      f"optimizer steps (epoch {sel.get('epochs_run', '?')}), possibly in the "
                                      f"flat start of the learning curve.",
                        "--set patience_min_steps=3000 (patience then counts only after 3,000 steps; "
                        "the new_data preset does this)"))
    if r.runaway:
        out.append(Mark("runaway", f"runaway mining from epoch {r.runaway}: mined negatives grew every "
                                   f"epoch while validation stayed near chance or fell.",
                        "end the warm-up later: --set warmup=validation (the new_data preset's rule), or "
                        "--set warmup=fixed --set warmup_epochs=N"))
    if known and r.cut_by_cap:
        out.append(Mark("cap", f"still improving at the epoch cap: best epoch {r.best_epoch} of {cap}.",
                        f"--set max_epochs={2 * cap}"))
    return out


def marks_text(rec) -> str:
    """The marks' codes, comma-separated ('' for a healthy run): a table column."""
    return ", ".join(m.code for m in marks(rec))


def _why_stopped(r) -> str:
    sel, cap = r.get("selection") or {}, r.field("max_epochs")
    if sel.get("stopped") == "max_epochs" or r.epochs_run >= cap:
        return f"the epoch cap (max_epochs={cap})"
    msg = f"patience: {r.field('patience')} validations without a new best"
    if r.field("patience_min_steps"):
        msg += f", counted after {r.field('patience_min_steps'):,} optimizer steps"
    return msg


def data_line(rec) -> str | None:
    """How a file dataset was read (None for registry and generated data)."""
    d = as_record(rec)["dataset"]
    if "format" not in d:
        return None
    line = (f"  data: {d['name']} (git blob {d['git_sha1'][:12]}, {d['bytes']:,} bytes, format {d['format']} "
            f"{d['format_from']}): {d['users']:,} users, {d['items']:,} items")
    log = d.get("read")
    if log:
        time = (f"sorted by {log['time_column']}" if log["time_column"] is not None
                else "in file order (no time column)")
        line += (f"; {log['rows']:,} rows ({log['delimiter']}-separated, "
                 f"{'a header' if log['header'] else 'no header'}), {time}; "
                 f"{log['duplicates_dropped']:,} repeated (user, item) events dropped (dups={log['dups']}), "
                 f"{log['users_dropped']:,} users with fewer than {log['min_events']} events dropped")
    return line


def _metrics_line(label: str, got: dict, chance: dict) -> str:
    return f"  {label:<24}" + "   ".join(f"{m.upper()} {got[m]:.4f} (chance {chance[m]:.4f})" for m in SHOWN)


def summary(rec, cached: bool = False) -> tuple[str, bool]:
    """The run's summary as printed by ``python -m ufnlib train``, and whether it failed (the
    last line then starts with FAILED and names the fix)."""
    r = as_record(rec)
    cfg, sel = r.config, r.get("selection") or {}
    n_items = r["dataset"].get("items") or 0
    eval_neg = r.field("eval_neg")
    steps = sel.get("steps")
    data = r["dataset"]["name"] if "format" in r["dataset"] else cfg["dataset"]
    lines = [f"run {r.key}: {data} / {r.backbone} / {r.strategy} / seed {r.seed}"
             + (" (cached)" if cached else f" ({r.get('train_seconds', 0):.0f} s of training)"),
             *filter(None, [data_line(r)]),
             f"  stopped at epoch {r.epochs_run}" + (f" ({steps:,} optimizer steps)" if steps is not None else "")
             + f" by {_why_stopped(r)}",
             f"  best epoch {r.best_epoch} on validation {r.field('select_metric').upper()} "
             f"{r.best_score:.4f} (sampled, chance {valid_chance(r):.4f})"
             + (f"; warm-up ended at epoch {r.warmup_end}" if r.warmup_end else ""),
             "  test at the best epoch:",
             _metrics_line(f"sampled ({eval_neg} negatives)", r.metrics("test", "sampled"),
                           {m: chance_level(m, eval_neg) for m in SHOWN})]
    if n_items > 1:
        lines.append(_metrics_line(f"full ({n_items:,} items)", r.metrics("test", "full"),
                                   {m: chance_level(m, n_items - 1) for m in SHOWN}))
    ms = marks(r)
    lines += ["  warnings: none"] if not ms else ["  warnings:"] + [f"  - {m}" for m in ms]
    failed = any(m.code == "failed" for m in ms)
    if failed:
        fix = next(m.fix for m in ms if m.code == "failed")
        lines.append(f"FAILED: the model learnt nothing usable (validation at chance). Fix: {fix}.")
    else:
        t = r.value(r.field("select_metric"), "sampled", "test")
        c = chance_level(r.field("select_metric"), eval_neg)
        lines.append(f"OK: test {r.field('select_metric').upper()} {t:.4f}, {t / c:.1f} x chance"
                     + (f", with {len(ms)} warning{'s' * (len(ms) > 1)}" if ms else ""))
    return "\n".join(lines), failed


def caption_note(records, codes=("failed",), limit: int = 6) -> str:
    """A table caption's warning about its runs with marks ``codes`` ('' if none): the same marks
    as the CLI summary. ``captions.protocol`` words ``runaway`` and ``flat_start`` itself; ``cap``
    is left to the per-run tables (``Record.cut_by_cap``: fixed-budget runs reach the cap by design)."""
    from .profiles import run_label
    words = {"failed": "validation at chance, the model learnt nothing usable (FAILED)",
             "flat_start": "stopped in the flat start of the learning curve",
             "runaway": "runaway mining", "cap": "still improving at the epoch cap"}
    out = []
    for code in codes:
        hit = [run_label(as_record(r).config) for r in records if any(m.code == code for m in marks(r))]
        if hit:
            shown = ", ".join(hit[:limit]) + (f" and {len(hit) - limit} more" if len(hit) > limit else "")
            out.append(f" WARNING ({code}, ufnlib.experiments.health): {words[code]}: {shown}.")
    return "".join(out)
