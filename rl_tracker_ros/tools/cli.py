"""``rl-tracker``: run the tracker on recorded video, and manage backbone weights."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import yaml


def _parse_box(text: str) -> np.ndarray:
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--box expects x,y,w,h numbers, got {text!r}")
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"--box expects 4 numbers x,y,w,h, got {len(vals)}")
    return np.array(vals)


def _config_from_args(args):
    from ..core.config import TrackerConfig, load_yaml_mapping

    overrides = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    if getattr(args, "tracker_profile", None):
        overrides["profile"] = args.tracker_profile
    for name in ("device", "weights", "backbone", "lam", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "random_backbone", False):
        overrides["allow_random_backbone"] = True
    if args.config:
        if "profile" not in overrides and "profile" not in load_yaml_mapping(args.config):
            overrides["profile"] = "auto"
        return TrackerConfig.from_yaml(args.config, **overrides)
    return TrackerConfig.from_dict({"profile": "auto", **overrides})


def cmd_run(args) -> int:
    from ..core.tracker import DATTracker
    from ..evaluation.metrics import evaluate
    from ..evaluation.runner import run_sequence, write_boxes
    from ..media.sequences import open_input

    seq = open_input(args.input)
    if args.box is not None:
        init_box = args.box
    elif seq.groundtruth is not None and len(seq.groundtruth):
        init_box = seq.groundtruth[0]
    else:
        print("error: no --box given and the input has no ground truth for the first frame", file=sys.stderr)
        return 2
    cfg = _config_from_args(args)
    tracker = DATTracker(cfg)
    out = run_sequence(tracker, seq, init_box, max_frames=args.max_frames, video=args.video,
                       attention=args.attention, progress=not args.quiet)
    out_path = Path(args.out) if args.out else Path(f"{seq.name}_boxes.txt")
    write_boxes(out_path, out.boxes, one_based=args.one_based)
    summary = {"sequence": seq.name, "frames": len(out.boxes), "init_time_s": round(out.init_time_s, 3),
               "fps": round(out.fps, 3), "device": str(tracker.device), "backbone": cfg.backbone,
               "lam": cfg.lam, "boxes": str(out_path)}
    if seq.groundtruth is not None and len(seq.groundtruth) >= len(out.boxes):
        s = evaluate(out.boxes, seq.groundtruth[: len(out.boxes)])
        summary.update(auc=round(s.auc, 4), precision20=round(s.precision20, 4))
    if args.video:
        summary["video"] = str(args.video)
    print(json.dumps(summary))
    return 0


def cmd_weights(args) -> int:
    from ..core import weights as W

    if args.action == "list":
        for row in W.list_weights():
            mark = "cached" if row["cached"] else "missing"
            print(f"{row['name']:10s} {row['arch']:10s} {mark:8s} {row['path']}\n    {row['description']}")
        return 0
    if args.action == "download":
        path = W.download_weights(args.target, base_url=args.base_url)
    else:
        path = W.import_weights(Path(args.target), name=args.name)
    print(f"weights ready: {path}")
    return 0


def eval_overrides(args) -> dict:
    """Our trackers' settings from ``rl-tracker eval``'s options: the ``--config`` file's
    keys, then ``--set``, ``--device``, ``--weights``, ``--seed`` and ``--random-backbone``."""
    from ..core.config import load_yaml_mapping

    overrides = dict(load_yaml_mapping(args.config)) if args.config else {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    for name in ("device", "weights", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if args.random_backbone:
        overrides["allow_random_backbone"] = True
    return overrides


def cmd_eval(args) -> int:
    from ..evaluation.harness import run_evaluation
    from ..evaluation.realtime import Mode
    from ..evaluation.report import stage_profile, write_report
    from ..evaluation.trackers import parse_specs
    from ..media.sequences import load_sequences

    specs = parse_specs(args.trackers, eval_overrides(args))
    mode = Mode(args.realtime, args.slowdown, args.drop, args.drop_burst, args.drop_seed, args.catch_up)
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    skipped: list = []
    seqs = load_sequences(args.inputs, skipped)
    if args.sequences:
        missing = sorted(set(args.sequences) - {s.name for s in seqs})
        if missing:
            raise ValueError(f"--sequences names {', '.join(missing)}, not among the inputs' sequences "
                             f"({', '.join(s.name for s in seqs)})")
        seqs = [s for s in seqs if s.name in args.sequences]
    print(f"{len(seqs)} sequences, {mode.label}: " + ", ".join(f"{s.text} -> {s.folder(mode)}/" for s in specs))
    for folder, reason in skipped:
        print(f"skipped {folder}: {reason}")
    opencv_threads = None if args.opencv_threads < 0 else args.opencv_threads
    run = run_evaluation(seqs, specs, args.out, mode=mode, max_frames=args.max_frames, resume=not args.rerun,
                         progress=not args.quiet, profile=args.profile, jobs=args.jobs, ray_address=args.ray,
                         opencv_threads=opencv_threads)
    for note in run.notes:
        print(f"note: {note}")
    results = {name: per_seq for name, per_seq in run.results.items() if per_seq}
    if not results:
        print("error: no sequence produced results", file=sys.stderr)
        return 1
    notes = {"mode": mode.to_dict(), "jobs": args.jobs, "ray": args.ray, "opencv_threads": opencv_threads,
             "notes": run.notes,
             "skipped_folders": {str(f): r for f, r in skipped}, "failed_sequences": run.failed}
    paths = write_report(results, args.out, notes)
    print((args.out / "table.md").read_text())
    if args.profile:
        print(stage_profile(results))
    print("\n".join(f"{k}: {v}" for k, v in paths.items()))
    for name in run.failed:
        print(f"FAILED: {name} (traceback above and in metrics.json)", file=sys.stderr)
    return 1 if run.failed else 0


def cmd_report(args) -> int:
    from ..evaluation.report import load_results, stage_profile, write_report

    results = load_results(args.dirs, args.trackers.split(",") if args.trackers else None)
    if not results:
        print("error: no results found", file=sys.stderr)
        return 2
    paths = write_report(results, args.out)
    print((args.out / "table.md").read_text())
    print(stage_profile(results))
    print("\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rl-tracker", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="track an object through an OTB folder, video file or image glob")
    r.add_argument("input", help="OTB folder (img/ + groundtruth_rect.txt), image folder, video file or image glob")
    r.add_argument("--box", type=_parse_box, help="first-frame box x,y,w,h in pixels (0-based); default: ground truth")
    r.add_argument("--out", help="boxes file, one x,y,w,h line per frame (default: <name>_boxes.txt)")
    r.add_argument("--one-based", action="store_true", help="write 1-based boxes, as OTB result files are")
    r.add_argument("--video", type=Path, help="annotated output: .mp4/.avi file, or a folder for PNG frames")
    r.add_argument("--attention", action="store_true", help="compute and overlay the attention map")
    r.add_argument("--profile", dest="tracker_profile", choices=["auto", "paper", "fast"],
                   help="settings preset: auto (default, unless --config names one: paper on a CUDA device, "
                        "fast otherwise), paper (the DAT paper) or fast (real time on a CPU)")
    r.add_argument("--config", help="tracker YAML config (keys of TrackerConfig)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config key (repeatable)")
    r.add_argument("--weights", help="weights file or TF.js folder (overrides the cache lookup)")
    r.add_argument("--backbone", help="backbone name (mobilenet, vggm, mdnet)")
    r.add_argument("--device", help="auto, cpu or cuda")
    r.add_argument("--lam", type=float, help="reciprocative weight lambda (0 = MDNet baseline)")
    r.add_argument("--seed", type=int)
    r.add_argument("--max-frames", type=int, help="stop after this many frames")
    r.add_argument("--random-backbone", action="store_true", help="allow an untrained random trunk (testing only)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("eval", help="OTB-protocol evaluation of several trackers side by side")
    e.add_argument("inputs", nargs="+", help="dataset roots and/or sequence folders (OTB or VOT layout)")
    e.add_argument("--trackers", default="dat,dat-lambda0,csrt,kcf,mil",
                   help="comma list: dat, dat-lambda<L>, dat-fast, dat-fast-lambda<L>, dat@config.yaml, csrt, kcf, mil")
    e.add_argument("--out", type=Path, default=Path("results/eval"), help="results folder")
    e.add_argument("--sequences", nargs="*", help="only these sequence names")
    e.add_argument("--max-frames", type=int, help="frames per sequence (default: all)")
    e.add_argument("--rerun", action="store_true",
                   help="re-track sequences that already have results (needed when their configuration differs)")
    e.add_argument("--realtime", type=float, metavar="HZ",
                   help="real-time protocol: a camera at HZ; frames that arrive while a tracker is busy are "
                        "skipped and each frame is scored with the newest result available when the next arrives")
    e.add_argument("--slowdown", type=float, default=1.0, metavar="X",
                   help="real time: multiply every measured tracker time by X (a slower computer)")
    e.add_argument("--catch-up", type=int, default=0, metavar="K",
                   help="real time: after the initialisation, catch up through the frames that arrived "
                        "meanwhile, K frames a step, as the node's catch_up_step does (default 0: the newest frame)")
    e.add_argument("--drop", type=float, default=0.0, metavar="P",
                   help="a lossy camera link: each frame starts a burst of lost frames with probability P "
                        "(offline or real time; lost frames reach no tracker and are scored with the box it had)")
    e.add_argument("--drop-burst", type=int, default=1, metavar="K", help="frames lost in each burst (default 1)")
    e.add_argument("--drop-seed", type=int, default=0, metavar="S",
                   help="which frames are lost (default 0; the same frames for every tracker of the run)")
    e.add_argument("--jobs", type=int, default=1, help="sequences in N worker processes (default 1)")
    e.add_argument("--opencv-threads", type=int, default=1, metavar="N",
                   help="OpenCV's thread pool during the run (default 1: its idle pool slowed the other "
                        "trackers' calls on a small CPU; -1: OpenCV's default)")
    e.add_argument("--ray", metavar="ADDRESS",
                   help="run the sequences as Ray tasks on the cluster at ADDRESS ('local': a Ray instance on "
                        "this machine, loopback only); needs the ray extra, and the inputs at the same path everywhere")
    e.add_argument("--profile", action="store_true", help="record per-frame stage times of our trackers and print where the time goes")
    e.add_argument("--config", help="YAML whose keys override our trackers' settings (not profile or lam: "
                                    "those are the tracker names')")
    e.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting of our trackers (repeatable)")
    e.add_argument("--weights", help="weights file or TF.js folder for our trackers")
    e.add_argument("--device", help="our trackers' device: auto, cpu or cuda")
    e.add_argument("--seed", type=int, help="our trackers' seed")
    e.add_argument("--random-backbone", action="store_true", help="allow an untrained random trunk (testing only)")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    rp = sub.add_parser("report", help="tables and plots from stored results (no tracking)")
    rp.add_argument("dirs", nargs="+", type=Path, help="results folders of earlier eval runs")
    rp.add_argument("--out", type=Path, default=Path("results/report"))
    rp.add_argument("--trackers", help="comma list of tracker folders to include")
    rp.set_defaults(func=cmd_report)

    w = sub.add_parser("weights", help="download, import or list backbone weights")
    w.add_argument("action", choices=["download", "import", "list"])
    w.add_argument("target", nargs="?", help="download: a name from `list`; import: a local file or TF.js folder")
    w.add_argument("--name", help="import: cache name (default from the format: mobilenet, vggm, mdnet)")
    w.add_argument("--base-url", help="download: mirror URL to use instead of the official one")
    w.set_defaults(func=cmd_weights)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if getattr(args, "action", None) in ("download", "import") and not args.target:
        print(f"error: weights {args.action} needs a target", file=sys.stderr)
        return 2
    from ..core.weights import WeightsError

    try:
        return args.func(args)
    except (WeightsError, ValueError, IOError, RuntimeError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
