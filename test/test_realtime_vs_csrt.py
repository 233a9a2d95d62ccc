"""benchmarks/realtime_vs_csrt.py: issue #15's yardstick, on result folders written here."""
import importlib.util
import json

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("realtime_vs_csrt", ROOT / "benchmarks" / "realtime_vs_csrt.py")
rvc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rvc)


def write_run(root, folder, aucs):
    d = root / folder
    d.mkdir(parents=True)
    for seq, auc in aucs.items():
        (d / f"{seq}.json").write_text(json.dumps({"auc": auc, "frames": 10}))


def test_the_score_is_the_mean_over_seeds_of_each_seeds_runs_against_csrt(tmp_path, capsys):
    # seed 0 twice (0.6 and 0.8: mean 0.7), seed 1 once (0.4): 0.55 over the seeds, not the
    # 0.6 of the three runs pooled, which would weigh seed 0 twice.
    write_run(tmp_path / "a", "dat-fast-lambda0@30hz", {"A": 0.6, "B": 0.6})
    write_run(tmp_path / "a", "csrt@30hz", {"A": 0.5, "B": 0.5})
    write_run(tmp_path / "b", "dat-fast-lambda0@30hz", {"A": 0.8, "B": 0.8})
    write_run(tmp_path / "b", "csrt@30hz", {"A": 0.5, "B": 0.5})
    write_run(tmp_path / "c", "dat-fast-lambda0+seed=1@30hz", {"A": 0.3, "B": 0.5})
    write_run(tmp_path / "c", "csrt@30hz", {"A": 0.4, "B": 0.6})
    write_run(tmp_path / "d", "dat-fast-lambda0+seed=2@30hz", {"A": 0.9})  # a sequence missing
    rows = {name: (per_seed, mean, ratio) for name, per_seed, mean, ratio in
            rvc.summary([tmp_path / x for x in "abcd"])}
    per_seed, mean, ratio = rows["dat-fast-lambda0"]
    assert per_seed == pytest.approx({0: 0.7, 1: 0.4}) and mean == pytest.approx(0.55)
    assert ratio == pytest.approx(0.55 / 0.5)
    assert "left out: dat-fast-lambda0 seed 2" in capsys.readouterr().err


def test_without_csrt_there_is_no_yardstick(tmp_path):
    write_run(tmp_path / "a", "dat-fast-lambda0@30hz", {"A": 0.6})
    with pytest.raises(SystemExit, match="csrt"):
        rvc.summary([tmp_path / "a"])
