"""In-process timing of the fast profile with and without the box refiner (and in bfloat16),
each config tracking the first N frames of a sequence back to back, twice. From the
repository root, nothing else running:
    python results/fast_levers21/probes/ab_timing.py Girl 150 base,cf50s,cf50,bf,bfcf
prints each run's median and mean frame time and its stages' mean time a frame (ms)."""
