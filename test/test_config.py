import pytest

from rl_tracker_ros.core.config import TrackerConfig


def test_defaults_are_the_papers():
    c = TrackerConfig()
    assert (c.lam, c.n_pos_init, c.n_neg_init, c.iters_init, c.lr_init) == (5.0, 500, 5000, 50, 2e-4)
    assert (c.batch_pos, c.batch_neg, c.batch_neg_cand) == (32, 32, 1024)
    assert (c.n_samples, c.trans, c.scale, c.trans_expand, c.top_k) == (256, 0.6, 1.05, 1.5, 5)
    assert (c.iters_update, c.lr_update, c.long_interval, c.n_frames_long, c.n_frames_short) == (15, 3e-4, 10, 100, 20)
    assert (c.n_pos_update, c.n_neg_update, c.momentum, c.weight_decay, c.grad_clip, c.fc6_lr_mult) == \
        (50, 200, 0.9, 5e-4, 10.0, 10.0)
    assert c.n_bbreg == 1000 and c.overlap_bbreg == (0.6, 1.0) and c.device == "auto"


def test_yaml_and_keyword_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("tracker:\n  lam: 0\n  overlap_pos_init: [0.8, 1.0]\n  device: cpu\n")
    c = TrackerConfig.from_yaml(p, n_samples=128)
    assert c.lam == 0 and c.overlap_pos_init == (0.8, 1.0) and c.device == "cpu" and c.n_samples == 128


def test_the_shipped_paper_yaml_equals_the_defaults():
    from pathlib import Path

    shipped = TrackerConfig.from_yaml(Path(__file__).resolve().parents[1] / "config" / "tracker_paper.yaml")
    assert shipped == TrackerConfig()


def test_unknown_and_invalid_values_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown tracker config keys"):
        TrackerConfig().replace(lamda=3)
    with pytest.raises(ValueError, match="lam must be"):
        TrackerConfig(lam=-1)
    p = tmp_path / "bad.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        TrackerConfig.from_yaml(p)
