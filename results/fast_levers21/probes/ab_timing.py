"""In-process timing of the fast profile with and without the box refiner (and in bfloat16),
each config tracking the first N frames of a sequence back to back, twice. From the
repository root, nothing else running:
    python results/fast_levers21/probes/ab_timing.py Girl 150 base,cf50s,cf50,bf,bfcf
prints each run's median and mean frame time and its stages' mean time a frame (ms)."""
import sys, time, numpy as np, torch, cv2, collections
sys.path.insert(0, '.')  # run from the repository root
cv2.setNumThreads(1)
from rl_tracker_ros.core.config import TrackerConfig
from rl_tracker_ros.core.tracker import DATTracker
from rl_tracker_ros.media.sequences import load_otb
seq_name = sys.argv[1]; n = int(sys.argv[2]); cfgs = sys.argv[3].split(',')
seq = load_otb(f'../shared/data/sequences/{seq_name}'); gt = np.asarray(seq.groundtruth, float)
frames = [f for _, f in zip(range(n), seq)]
# The fast profile has the filters since 30e16e1c, and bfloat16 on AVX-512 BF16 since
# 273a3cdb: each config says what it runs, as it was measured.
OFF = dict(translation_filter_weight=0.0, scale_filter_weight=0.0)
F32 = dict(trunk_precision='float32', head_precision='float32')
kw = {'base': dict(OFF, **F32), 'cf50': dict(F32, translation_filter_weight=0.5, scale_filter_weight=0.5, scale_filter_scales=33, scale_filter_template=1024.0), 'tf50': dict(F32, translation_filter_weight=0.5, scale_filter_weight=0.0), 'sf50': dict(F32, translation_filter_weight=0.0, scale_filter_weight=0.5, scale_filter_scales=33, scale_filter_template=1024.0), 'bf': dict(OFF, trunk_precision='bfloat16', head_precision='bfloat16'), 'bfcf': dict(trunk_precision='bfloat16', head_precision='bfloat16', translation_filter_weight=0.5, scale_filter_weight=0.5, scale_filter_scales=17, scale_filter_template=512.0), 'cf50s': dict(F32, translation_filter_weight=0.5, scale_filter_weight=0.5, scale_filter_scales=17, scale_filter_template=512.0)}
for rep in range(2):
  for c in cfgs:
    tr = DATTracker(TrackerConfig.preset('fast', seed=0, **kw[c]))
    tr.initialize(frames[0], gt[0])
    st = collections.Counter(); times = []
    for f in frames[1:]:
        t = time.perf_counter(); r = tr.track(f); times.append(time.perf_counter() - t)
        for k, v in r.stages.items(): st[k] += v
    m = len(frames) - 1
    print(rep, c, 'median %.1f mean %.1f' % (np.median(times)*1e3, np.mean(times)*1e3), ' '.join(f"{k} {v/m*1e3:.2f}" for k, v in st.items()), flush=True)
