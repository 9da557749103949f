"""Table captions: the protocol sentence read from the records themselves (data version, seeds,
selection, evaluation, warnings about runaway or early-stopped runs) and the significance note."""
from __future__ import annotations

from ..data.datasets import REGISTRY
from ..experiments.health import caption_note
from ..experiments.profiles import run_label
from .comparison import RULE

MODE_TEXT = {
    "sampled": "sampled-100 protocol (the test item ranked against 100 items drawn uniformly, once, "
               "from a fixed seed, among items the user never interacted with; the paper's protocol)",
    "full": "full ranking (the test item ranked against every item, the user's history excluded; "
            "not reported in the paper)",
}


def dataset_note(name: str, rec: dict | None = None) -> str:
    if name.startswith("synthetic"):
        return (f"{name}: seeded synthetic data (smoke profile), a pipeline check whose numbers are "
                f"not comparable with the paper's")
    size = f"{rec['dataset']['users']:,} users, {rec['dataset']['items']:,} items" if rec else ""
    base = name.replace("_sasrec", "")
    if base == "beauty" and name == "beauty":
        return (f"Beauty: our Beauty is the S3-Rec version ({size}), NOT the paper's 52,024-user "
                f"SASRec version; compare directions and gaps with the paper, not values")
    info = REGISTRY.get(name)
    return f"{name.capitalize()}: {info.note if info else 'unregistered'}" + (f" ({size})" if size else "")


SPLIT = {"test": "test", "valid": "validation"}


def _mode_text(mode: str, split: str) -> str:
    return MODE_TEXT[mode].replace("the test item", f"the {SPLIT[split]} item")


def protocol(records: list[dict], mode: str, profile: str | None = None, split: str = "test",
             numbers: str | None = None, evaluation: str | None = None) -> str:
    """The caption's protocol sentence(s), read from the records themselves. ``split``: the
    leave-one-out item the table's numbers rank ("test", the default, or "valid"); ``numbers``:
    what one number of the table is, when not the default "mean ± sample standard deviation
    over seeds" (e.g. one value per run and epoch, or a count over users); ``evaluation``: the
    evaluation sentence, when the table is not a ranking metric of ``split``'s item (it then
    replaces both ``mode``'s and ``split``'s text)."""
    if split not in SPLIT:
        raise ValueError(f"split must be one of {sorted(SPLIT)}, got {split!r}")
    if not records:
        return (f"No runs available yet (see the list of missing runs). Evaluation: "
                f"{evaluation or _mode_text(mode, split)}."
                + (f" Profile {profile}." if profile else ""))
    cfgs = [r.config for r in records]
    seeds = sorted({c["seed"] for c in cfgs})
    by_ds = {}
    for r in records:
        by_ds.setdefault(r.dataset, r)
    sel = sorted({(c["select_metric"], c["max_epochs"], c["patience"]) for c in cfgs})
    sel_txt = "; ".join(f"at most {me} epochs, stop after {pa} validations without improvement"
                        for _, me, pa in sel)
    teacher = sorted({c["strategy"] for c in cfgs if any(r.reports_teacher for r in records
                                                            if r.strategy == c["strategy"])})
    n_seeds = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    numbers = (f"{numbers} (seeds {seeds}, {n_seeds})" if numbers else
               f"mean ± sample standard deviation over seeds {seeds} ({n_seeds})")
    txt = ("Data: " + "; ".join(dataset_note(d, r) for d, r in by_ds.items()) + ". "
           f"Evaluation: {evaluation or _mode_text(mode, split) + f', {SPLIT[split]} split of leave-one-out'}. "
           f"Numbers: {numbers}; the epoch of each run is chosen on "
           f"validation (sampled {sel[0][0].upper()}; {sel_txt}); test is never used for selection.")
    if teacher:
        txt += (f" Runs with an EMA teacher ({', '.join(teacher)}) report the teacher's weights, as the "
                f"reference code does.")
    flagged = [r for r in records if r.runaway]
    if flagged:
        txt += (" WARNING: runaway mining (ufnlib.negatives.diagnostics.runaway) in "
                + ", ".join(run_label(r.config) for r in flagged)
                + "; these runs never learned after mining started.")
    plateau = [r for r in records if r.few_steps_stop]
    if plateau:
        txt += (" WARNING: stopped by patience after few optimizer steps, possibly in the flat start of "
                "the learning curve (ufnlib.training.train.stopped_after_few_steps; set patience_min_steps): "
                + ", ".join(run_label(r.config) for r in plateau) + ".")
    txt += caption_note(records)   # runs whose validation stayed at chance: the CLI summary's FAILED mark
    if profile:
        txt += f" Profile: {profile}."
    return txt


SIG_TEXT = ("Improv. = relative change of the mean over the baseline on the seeds both arms have (of one code "
            "generation where some pairs of runs are, docs/speed.md), with its 95% interval over training seeds and "
            "test users; p (users) = Wilcoxon signed-rank test over users on per-user values averaged over those "
            "seeds (same candidates in every run); p (seeds) = paired t-test over seeds (needs 2+ seeds). Verdict, "
            + RULE + ".")


def generation_note(names) -> str:
    """The caption's sentence naming the comparisons whose two arms were trained by different code
    generations (empty when there are none)."""
    names = list(dict.fromkeys(names))
    if not names:
        return ""
    return (" Mixed code generations (the two arms' runs come from code whose numerics differ, docs/speed.md; no "
            "pair of runs of one generation exists for them): " + ", ".join(names) + ".")
