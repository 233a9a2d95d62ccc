"""Tables and plots from stored results: no tracking happens here, so earlier runs can
be re-plotted and compared (``rl-tracker report DIR [DIR ...]``)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .metrics import PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS
from .realtime import mode_label

Results = Dict[str, Dict[str, dict]]  # tracker -> sequence -> scores


def load_results(dirs: List[Path], trackers: Optional[List[str]] = None) -> Results:
    """Read ``DIR/<tracker>/<sequence>.json``; a tracker present in several dirs is
    named ``<dir>/<tracker>`` so runs can be compared side by side."""
    found: Dict[str, List[Path]] = {}
    for d in map(Path, dirs):
        for folder in sorted(p for p in d.iterdir() if p.is_dir()):
            if trackers and folder.name not in trackers:
                continue
            if (folder / "metrics.json").exists():  # a results folder of its own, not a tracker's
                print(f"report: {folder} is a results folder (it has metrics.json), not a tracker's: "
                      "left out; name it as a folder of its own", file=sys.stderr)
                continue
            found.setdefault(folder.name, []).append(folder)
    out: Results = {}
    for name, folders in found.items():
        for folder in folders:
            label = name if len(folders) == 1 else f"{folder.parent.name}/{name}"
            seqs = _sequence_results(folder)
            if seqs:
                out[label] = seqs
    return out


def _sequence_results(folder: Path) -> Dict[str, dict]:
    """A tracker folder's ``<sequence>.json`` scores; any other JSON file there (a
    diagnostic's output, a damaged file) is named and left out, not read as a sequence."""
    seqs = {}
    for p in sorted(folder.glob("*.json")):
        if p.stem == "summary":
            continue
        try:
            scores = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            print(f"report: {p} is not readable JSON ({e}): left out", file=sys.stderr)
            continue
        if not (isinstance(scores, dict) and "auc" in scores and "frames" in scores):
            print(f"report: {p} holds no sequence's scores (no auc and frames): left out", file=sys.stderr)
            continue
        seqs[p.stem] = scores
    return seqs


def mode_of(scores: dict) -> dict:
    """The mode a result was made in; results older than real-time runs are offline."""
    return scores.get("mode") or {"kind": "offline", "rate_hz": None, "slowdown": 1.0}


def summary(results: Results) -> Dict[str, dict]:
    """Per tracker: mean AUC, precision@20, centre error, success@0.5 over its sequences
    (the OTB overall score: each sequence weighs the same), mean fps, mean curves, its
    mode, and in real time the frames processed and skipped (summed)."""
    out = {}
    for name, seqs in results.items():
        vals = list(seqs.values())
        modes = {mode_label(mode_of(v)) for v in vals}
        if len(modes) > 1:
            raise ValueError(f"{name} mixes results of several modes ({', '.join(sorted(modes))})")
        out[name] = {
            "mode": modes.pop(),
            "frames_processed": sum(v.get("frames_processed", v["frames"]) for v in vals),
            "frames_skipped": sum(v.get("frames_skipped", 0) for v in vals),
            "frames_lost": sum(v.get("frames_lost", 0) for v in vals),
            "sequences": len(vals),
            "auc": float(np.mean([v["auc"] for v in vals])),
            "precision20": float(np.mean([v["precision20"] for v in vals])),
            "center_error": float(np.mean([v["center_error"] for v in vals])),
            "success50": float(np.mean([v["success50"] for v in vals])),
            "fps": float(np.mean([v["fps"] for v in vals])),
            "init_time_s": float(np.mean([v["init_time_s"] for v in vals])),
            "success_curve": np.mean([v["success_curve"] for v in vals], axis=0).tolist(),
            "precision_curve": np.mean([v["precision_curve"] for v in vals], axis=0).tolist(),
        }
    return out


def markdown_table(results: Results) -> str:
    seq_names = sorted({s for seqs in results.values() for s in seqs})
    summ = summary(results)
    head = "| tracker | mode | " + " | ".join(seq_names) + " | mean AUC / P@20 | FPS | init s | processed / skipped |"
    lines = [head, "|" + "---|" * (len(seq_names) + 6)]
    for name in sorted(results, key=lambda n: -summ[n]["auc"]):
        cells = []
        for s in seq_names:
            v = results[name].get(s)
            cells.append(f"{v['auc']:.3f} / {v['precision20']:.3f}" if v else "–")
        m = summ[name]
        partial = "" if m["sequences"] == len(seq_names) else f" ({m['sequences']} seq)"
        lines.append(f"| {name} | {m['mode']} | " + " | ".join(cells) +
                     f" | **{m['auc']:.3f} / {m['precision20']:.3f}**{partial} | {m['fps']:.2f} | "
                     f"{m['init_time_s']:.2f} | {m['frames_processed']} / {m['frames_skipped']}"
                     + (f" ({m['frames_lost']} lost on the link)" if m["frames_lost"] else "") + " |")
    lines.append("")
    lines.append("Cells: success AUC / precision@20 px (OTB one-pass evaluation). FPS: tracker time only, "
                 "first frame excluded; init s: first-frame initialisation. Mode: offline (every frame "
                 "handed over and waited for) or real time at a camera rate (every frame scored with the "
                 "newest result available when the next frame arrived; frames that came while the tracker "
                 "was busy are skipped). Processed / skipped: frames, summed over the sequences.")
    for extra in (side_by_side(results), over_runs(results)):
        if extra:
            lines += ["", extra]
    return "\n".join(lines)


def over_runs(results: Results) -> str:
    """When the same tracker comes from several result dirs or seeds (repeated runs,
    ``+seed=N`` folders),
    its mean AUC and P@20 over those runs with their spread (sample standard deviation,
    and min to max); empty when no tracker was run more than once."""
    summ = summary(results)
    groups: Dict[str, List[str]] = {}
    for label in summ:  # the same tracker: its folder, less the run dir and the seed
        groups.setdefault(re.sub(r"\+seed=\d+", "", label.split("/", 1)[-1]), []).append(label)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return ""
    lines = ["Over repeated runs and seeds (the same tracker in several result dirs or +seed=N folders):", "",
             "| tracker | runs | mean AUC ± sd (min–max) | mean P@20 ± sd |", "|---|---|---|---|"]
    for name in sorted(groups, key=lambda n: -np.mean([summ[x]["auc"] for x in groups[n]])):
        auc = np.array([summ[x]["auc"] for x in groups[name]])
        p20 = np.array([summ[x]["precision20"] for x in groups[name]])
        lines.append(f"| {name} | {len(auc)} | {auc.mean():.3f} ± {auc.std(ddof=1):.3f} "
                     f"({auc.min():.3f}–{auc.max():.3f}) | {p20.mean():.3f} ± {p20.std(ddof=1):.3f} |")
    return "\n".join(lines)


def base_name(label: str) -> str:
    """A result folder's tracker without the run dir, seed and mode
    (``run1/dat-fast-lambda0+seed=1@30hz`` -> ``dat-fast-lambda0``)."""
    return re.sub(r"\+seed=\d+", "", label.split("/", 1)[-1].split("@", 1)[0])


def side_by_side(results: Results) -> str:
    """Offline and real-time results of the same trackers in one table: mean AUC / P@20
    (over the runs when several dirs hold the tracker, with the AUC's spread) and, in real
    time, the share of frames processed; empty when there is only one mode."""
    summ = summary(results)
    modes = sorted({m["mode"] for m in summ.values()}, key=lambda m: (m != "offline", m))
    if len(modes) < 2:
        return ""
    rows: Dict[str, Dict[str, List[dict]]] = {}
    for name, m in summ.items():
        rows.setdefault(base_name(name), {}).setdefault(m["mode"], []).append(m)
    head = "| tracker | " + " | ".join(f"{m} AUC / P@20" for m in modes) + " |"
    lines = ["Offline and real time side by side (mean over the sequences; over the runs where there are several):",
             "", head, "|" + "---|" * (len(modes) + 1)]

    def best(name):
        return -max(np.mean([v["auc"] for v in runs]) for runs in rows[name].values())

    for name in sorted(rows, key=best):
        cells = []
        for mode in modes:
            runs = rows[name].get(mode)
            if not runs:
                cells.append("–")
                continue
            auc = np.array([v["auc"] for v in runs])
            cell = f"{auc.mean():.3f} / {np.mean([v['precision20'] for v in runs]):.3f}"
            if len(runs) > 1:
                cell += f" (± {auc.std(ddof=1):.3f}, {len(runs)} runs/seeds)"
            if mode != "offline":
                processed = sum(v["frames_processed"] for v in runs)
                frames = processed + sum(v["frames_skipped"] + v.get("frames_lost", 0) for v in runs)
                cell += f" [{_share(processed, frames)} of frames processed]"
            seqs = {v["sequences"] for v in runs}
            if len(seqs) > 1 or seqs != {max(v["sequences"] for r in rows[name].values() for v in r)}:
                cell += f" ({'/'.join(str(n) for n in sorted(seqs))} seq)"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    pct = 100.0 * part / max(whole, 1)
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.1f}%"


def plot_curves(results: Results, out_dir: Path) -> List[Path]:
    """OTB-style success and precision plots, one curve per tracker, score in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summ = summary(results)
    paths = []
    for kind, xs, key, score, xlabel, title in (
            ("success", SUCCESS_THRESHOLDS, "success_curve", "auc", "Overlap threshold", "Success plots of OPE"),
            ("precision", PRECISION_THRESHOLDS, "precision_curve", "precision20", "Location error threshold (px)",
             "Precision plots of OPE")):
        fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=110)
        for name in sorted(summ, key=lambda n: -summ[n][score]):
            ax.plot(xs, summ[name][key], lw=2, label=f"{name} [{summ[name][score]:.3f}]")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Success rate" if kind == "success" else "Precision")
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.set_xlim(xs[0], xs[-1])
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left" if kind == "success" else "lower right", fontsize=8)
        fig.tight_layout()
        path = Path(out_dir) / f"{kind}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(results: Results, out_dir: Path, notes: Optional[dict] = None) -> Dict[str, Path]:
    """metrics.json (with ``notes``: skipped or failed sequences, how the run was made),
    table.md, success.png and precision.png in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps({"summary": summary(results), "sequences": results,
                                                      **(notes or {})}, indent=1))
    (out_dir / "table.md").write_text(markdown_table(results) + "\n")
    success, precision = plot_curves(results, out_dir)
    return {"metrics": out_dir / "metrics.json", "table": out_dir / "table.md", "success": success,
            "precision": precision}


def stage_profile(results: Results) -> str:
    """Where our trackers' time goes, summed over all sequences (from --profile runs)."""
    lines = []
    for name, seqs in results.items():
        total: Dict[str, float] = {}
        for v in seqs.values():
            for k, t in (v.get("stage_time_s") or {}).items():
                total[k] = total.get(k, 0.0) + t
        if not total:
            continue
        s = sum(total.values())
        parts = ", ".join(f"{k} {100 * t / s:.1f}%" for k, t in sorted(total.items(), key=lambda kv: -kv[1]))
        lines.append(f"{name}: {parts} (of {s:.1f} s)")
    return "\n".join(lines)
