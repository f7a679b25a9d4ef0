#!/usr/bin/env python3
"""One layer of the study's sweep in one Python process: `psmi_rs.sweep` against the
study's own way of computing it in torch on the CPU, alternating, on the same cores.

The torch side is written as the memorisation study (Dentan et al. 2024) writes it:
the bf16 states widened to f32, directions from `torch.randn` normalised, the n × m
projections by `torch.matmul`, per-class Gaussian densities with `exp` divided into
the mixture density, `log`, the mean and std over the directions, and `np.quantile`
over the n × m matrix for the 1 % / 99 % quantiles. Ours is
`psmi_rs.sweep([layer], y, quantiles=(0.01, 0.99), n_estimators=m)` on the same bf16
torch tensor: the per-layer work of the whole sweep (scores, quantiles, the table).

The layer is sweep.py's (make_hidden.py's LLM-shaped values, 4 token-id labels),
generated in memory; nothing is written. Without torch (`--numpy`), the same
algorithm in numpy stands in, and the report says so.

    target/venv/bin/python psmi-bench/compare/sweep_layer.py              # n 8000, d 4096, m 2000
    target/venv/bin/python psmi-bench/compare/sweep_layer.py --n 2000 --d 512 --reps 1

Run it with a Python that has psmi_rs (pip install ./psmi-py), numpy and torch
(`pip install torch --index-url https://download.pytorch.org/whl/cpu`).
"""

import argparse
import os
import statistics
import time

import numpy as np

from sweep import layer_states


def study_torch(states, labels, m, seed, levels):
    """The study's per-layer computation in torch: mean, std and quantiles of
    each sample's PSMI over m directions."""
    import torch

    x = states.float()
    generator = torch.Generator().manual_seed(seed)
    thetas = torch.randn(m, x.shape[1], generator=generator)
    thetas = thetas / thetas.norm(dim=1, keepdim=True)
    z = torch.matmul(x, thetas.T)
    y = torch.from_numpy(labels)
    classes = torch.unique(y)
    conditional = torch.empty_like(z)
    mixture = torch.zeros_like(z)
    for c in classes:
        rows = y == c
        mean, std = z[rows].mean(0), z[rows].std(0, unbiased=False)
        density = torch.exp(-((z - mean) ** 2) / (2 * std**2)) / (std * np.sqrt(2 * np.pi))
        mixture += rows.float().mean() * density
        conditional[rows] = density[rows]
    psmi = torch.log(conditional / mixture)
    full = psmi.numpy()
    return psmi.mean(1).numpy(), psmi.std(1, unbiased=False).numpy(), np.quantile(full, levels, axis=1).T


def study_numpy(states, labels, m, seed, levels):
    """The same in numpy, where torch cannot be installed."""
    x = states.astype(np.float32)
    thetas = np.random.default_rng(seed).standard_normal((m, x.shape[1]), dtype=np.float32)
    thetas /= np.linalg.norm(thetas, axis=1, keepdims=True)
    z = x @ thetas.T
    conditional, mixture = np.empty_like(z), np.zeros_like(z)
    for c in np.unique(labels):
        rows = labels == c
        mean, std = z[rows].mean(0), z[rows].std(0)
        density = np.exp(-((z - mean) ** 2) / (2 * std**2)) / (std * np.sqrt(2 * np.pi))
        mixture += rows.mean() * density
        conditional[rows] = density[rows]
    psmi = np.log(conditional / mixture)
    return psmi.mean(1), psmi.std(1), np.quantile(psmi, levels, axis=1).T


def timed(run):
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--d", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--n-estimators", type=int, default=2000)
    parser.add_argument("--quantiles", default="0.01,0.99")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--numpy", action="store_true", help="numpy in place of torch")
    args = parser.parse_args()
    import psmi_rs

    cores = len(os.sched_getaffinity(0))
    levels = [float(q) for q in args.quantiles.split(",")]
    rng = np.random.default_rng(args.seed)
    n, d, k, m = args.n, args.d, args.classes, args.n_estimators
    classes = rng.integers(0, k, size=n)
    labels = rng.choice(np.arange(10_000, 40_000), size=k, replace=False).astype(np.int64)[classes]
    memorised = (rng.random(n) < 0.1).astype(np.int64)
    centres = rng.standard_normal((k, d), dtype=np.float32) * np.float32(0.35)
    values = layer_states(rng, centres, classes, memorised, 0, [i for i in (7, 300, 1500, 2222) if i < d])
    if args.numpy:
        import ml_dtypes

        states = values.astype(ml_dtypes.bfloat16)
        study, name = study_numpy, f"numpy {np.__version__}"
    else:
        import torch

        torch.set_num_threads(cores)
        states = torch.from_numpy(values).to(torch.bfloat16)
        study, name = study_torch, f"torch {torch.__version__} (CPU, {torch.get_num_threads()} threads)"
    del values

    def ours():
        return psmi_rs.sweep([states], labels, quantiles=levels, n_estimators=m, random_state=args.seed)

    def theirs():
        return study(states, labels, m, args.seed, levels)

    # Agreement on this data: over their own directions both estimate the same
    # SMI; the NaNs are the study's 0/0 where both densities underflow.
    mine, study_result = ours().layers, theirs()
    nan = int(np.isnan(study_result[0]).sum())
    smi = (float(mine["smi"][0]), float(np.nanmean(study_result[0])))
    runs = {"psmi_rs.sweep": [], name: []}
    for _ in range(args.reps):
        runs["psmi_rs.sweep"].append(timed(ours))
        runs[name].append(timed(theirs))
    load = os.getloadavg()
    print(f"\nn = {n}, d = {d}, bf16, {k} labels, m = {m}, quantiles {args.quantiles}; {cores} cores; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; medians of {args.reps} alternating "
          "runs after one untimed run each\n")
    print("| one layer | time (s) | CPU time (s) |")
    print("|---|---:|---:|")
    medians = {}
    for label, times in runs.items():
        wall, cpu = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        medians[label] = (wall, cpu)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    (ours_wall, ours_cpu), (their_wall, their_cpu) = medians.values()
    print(f"\nours is {their_wall / ours_wall:.1f}× faster in time, {their_cpu / ours_cpu:.1f}× in CPU time "
          f"(goal ≥ 20×); SMI {smi[0]:.4f} nats, the study's way {smi[1]:.4f} over the samples it does "
          f"not give NaN ({nan} of {n})")


if __name__ == "__main__":
    main()
