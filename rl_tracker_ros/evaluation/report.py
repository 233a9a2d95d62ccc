"""Tables and plots from stored results: no tracking happens here, so earlier runs can
be re-plotted and compared (``rl-tracker report DIR [DIR ...]``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .metrics import PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS

Results = Dict[str, Dict[str, dict]]  # tracker -> sequence -> scores


def load_results(dirs: List[Path], trackers: Optional[List[str]] = None) -> Results:
    """Read ``DIR/<tracker>/<sequence>.json``; a tracker present in several dirs is
    named ``<dir>/<tracker>`` so runs can be compared side by side."""
    found: Dict[str, List[Path]] = {}
    for d in map(Path, dirs):
        for folder in sorted(p for p in d.iterdir() if p.is_dir()):
            if trackers and folder.name not in trackers:
                continue
            found.setdefault(folder.name, []).append(folder)
    out: Results = {}
    for name, folders in found.items():
        for folder in folders:
            label = name if len(folders) == 1 else f"{folder.parent.name}/{name}"
            seqs = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.stem != "summary"}
            if seqs:
                out[label] = seqs
    return out


def summary(results: Results) -> Dict[str, dict]:
    """Per tracker: mean AUC, precision@20, centre error, success@0.5 over its sequences
    (the OTB overall score: each sequence weighs the same), mean fps, mean curves."""
    out = {}
    for name, seqs in results.items():
        vals = list(seqs.values())
        out[name] = {
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
    head = "| tracker | " + " | ".join(seq_names) + " | mean AUC / P@20 | FPS | init s |"
    lines = [head, "|" + "---|" * (len(seq_names) + 4)]
    for name in sorted(results, key=lambda n: -summ[n]["auc"]):
        cells = []
        for s in seq_names:
            v = results[name].get(s)
            cells.append(f"{v['auc']:.3f} / {v['precision20']:.3f}" if v else "–")
        m = summ[name]
        partial = "" if m["sequences"] == len(seq_names) else f" ({m['sequences']} seq)"
        lines.append(f"| {name} | " + " | ".join(cells) +
                     f" | **{m['auc']:.3f} / {m['precision20']:.3f}**{partial} | {m['fps']:.2f} | {m['init_time_s']:.2f} |")
    lines.append("")
    lines.append("Cells: success AUC / precision@20 px (OTB one-pass evaluation). FPS: tracker time only, "
                 "first frame excluded; init s: first-frame initialisation.")
    return "\n".join(lines)


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


def write_report(results: Results, out_dir: Path) -> Dict[str, Path]:
    """metrics.json, table.md, success.png and precision.png in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps({"summary": summary(results), "sequences": results}, indent=1))
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
