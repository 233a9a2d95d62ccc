"""The camera's frame interval from its stamps (media/frame_period.py)."""
import numpy as np
import pytest

from rl_tracker_ros.media.frame_period import FramePeriod

MS = 1_000_000


def test_the_period_is_the_median_gap_even_with_frames_lost_and_jitter():
    rng = np.random.default_rng(0)
    period = FramePeriod()
    arrived = [i for i in range(60) if i % 4 != 2]  # a quarter of the frames lost
    for i in arrived:
        period.add(int(i * 33.3 * MS + rng.uniform(-2, 2) * MS))
    assert period.period_ns() == pytest.approx(33.3 * MS, rel=0.1)
    assert period.intervals(int(100 * 33.3 * MS), int(104 * 33.3 * MS)) == 4
    assert period.intervals(int(100 * 33.3 * MS), int(100.4 * 33.3 * MS)) == 1  # never below one


def test_no_estimate_from_unset_repeated_or_backward_stamps():
    period = FramePeriod()
    for _ in range(10):
        period.add(0)  # a driver that leaves the stamp unset
    assert period.period_ns() is None and period.intervals(0, 5 * MS) is None
    for stamp in (900, 800, 700, 600):  # a clock going back
        period.add(stamp * MS)
    assert period.period_ns() is None
    for stamp in (100, 133, 166, 200):
        period.add(stamp * MS)
    assert period.period_ns() == pytest.approx(33.3 * MS, rel=0.05)
    assert period.intervals(200 * MS, 200 * MS) is None and period.intervals(0, 300 * MS) is None


def test_the_settings_are_checked():
    with pytest.raises(ValueError):
        FramePeriod(window=0)
