"""The reciprocative comparison's table: lambda x seed x sequence, scored on the first
FRAMES frames of each sequence (issue #14's protocol), from the boxes stored by
``benchmarks/reciprocal_compare.sh``.

Tracking is causal, so the first FRAMES boxes of a longer run are exactly those of a run
stopped there: runs made with a larger --max-frames are scored on their first FRAMES.

    .venv/bin/python benchmarks/reciprocal_table.py results/reciprocal ../shared/data/sequences --frames 75

Writes ``DIR/reciprocal_table.md`` and ``DIR/reciprocal_table.json`` and prints the table; a run that is not
complete (a sequence missing) is listed as such, never averaged in.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from rl_tracker_ros.evaluation.metrics import evaluate
from rl_tracker_ros.media.sequences import load_otb


def scores(results: Path, data: Path, frames: int):
    """{(lam, seed): {sequence: (auc, init_s, frame_median_s)}} of the stored runs."""
    out = defaultdict(dict)
    gts = {}
    for js in sorted(results.glob("dat-lambda*/*.json")):
        rec = json.loads(js.read_text())
        cfg = rec["tracker"]["config"]
        seq = js.stem
        if seq not in gts:
            gts[seq] = load_otb(data / seq).groundtruth
        boxes = np.loadtxt(js.with_suffix(".txt"), delimiter=",", ndmin=2)
        first = rec.get("first_frame", 0)
        n = min(frames, len(boxes))
        if n < min(frames, len(gts[seq]) - first):
            raise ValueError(f"{js}: {len(boxes)} boxes, fewer than the {frames} frames scored")
        auc = evaluate(boxes[:n], gts[seq][first:first + n]).auc
        out[(cfg["lam"], cfg["seed"])][seq] = (auc, rec["init_time_s"], rec["frame_time_median_s"])
    return out


def table(runs, frames: int) -> tuple:
    seqs = sorted({s for r in runs.values() for s in r})
    lines = [f"Success AUC on the first {frames} frames of each sequence (paper profile, official form; "
             "mean over the seeds ± sample std; a run with a sequence missing is not averaged in)", "",
             "| λ | seeds | " + " | ".join(seqs) + " | mean AUC | per-seed means | init s (median) | s / frame (median) |",
             "|---|---|" + "---|" * len(seqs) + "---|---|---|---|"]
    summary = {}
    for lam in sorted({k[0] for k in runs}):
        complete = {seed: r for (l, seed), r in sorted(runs.items()) if l == lam and set(r) == set(seqs)}
        partial = {seed: sorted(set(seqs) - set(r)) for (l, seed), r in runs.items() if l == lam and seed not in complete}
        if not complete:
            lines.append(f"| {lam:g} | – (incomplete: {partial}) |" + " |" * (len(seqs) + 4))
            continue
        per_seq = {s: [complete[k][s][0] for k in complete] for s in seqs}
        seed_means = [float(np.mean([complete[k][s][0] for s in seqs])) for k in complete]
        cell = lambda v: f"{np.mean(v):.3f}" + (f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else "")
        inits = [complete[k][s][1] for k in complete for s in seqs]
        steps = [complete[k][s][2] for k in complete for s in seqs]
        lines.append(f"| {lam:g} | {', '.join(map(str, complete))} | " + " | ".join(cell(per_seq[s]) for s in seqs)
                     + f" | **{cell(seed_means)}** | {', '.join(f'{m:.3f}' for m in seed_means)} | "
                     f"{np.median(inits):.0f} | {np.median(steps):.2f} |")
        if partial:
            lines.append(f"| {lam:g} | incomplete: {partial} |" + " |" * (len(seqs) + 4))
        summary[f"{lam:g}"] = {"seeds": list(complete), "mean_auc": float(np.mean(seed_means)),
                               "std_over_seeds": float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else None,
                               "per_seed_mean_auc": seed_means, "per_sequence": per_seq,
                               "incomplete_seeds": partial}
    return "\n".join(lines) + "\n", summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("--frames", type=int, default=75)
    a = ap.parse_args()
    text, summary = table(scores(a.results, a.data, a.frames), a.frames)
    (a.results / "reciprocal_table.md").write_text(text)
    (a.results / "reciprocal_table.json").write_text(json.dumps({"frames": a.frames, "by_lambda": summary}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
