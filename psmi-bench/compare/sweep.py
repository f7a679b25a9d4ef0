#!/usr/bin/env python3
"""The study's sweep as one command: `psmi fit-transform --runs` over checkpoints ×
layers × shards, with and without `--quantiles`, timed as whole processes.

The layout is the memorisation study's (Dentan et al. 2024): per checkpoint,
`CKPT/forward_values/train_000.safetensors` and `train_001.safetensors`, each holding
half of the samples as one bf16 tensor per layer (`mcq_states_layer_K`), with
`train_00S.labels.safetensors` (tensor `mcq_labels`, I64 token ids) beside them, and
a per-sample 0/1 `memorised.npy` for `--against`. The states are make_hidden.py's
LLM-shaped values, the class centres drifting a little from checkpoint to checkpoint.

The variants alternate, after one untimed run each (files in the page cache); wall
time, CPU time and peak RSS come from os.wait4 (compare.py's run_child). The data is
n × d × 2 bytes × layers × checkpoints: pass --data DIR with room, --clean removes it.

    python3 psmi-bench/compare/sweep.py --data /big/dir            # the issue's size
    python3 psmi-bench/compare/sweep.py --data DIR --n 2000 --d 1024 --layers 4 --reps 1
"""

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def generate(args):
    """Writes the layout (run under compare.py's venv, which has numpy)."""
    import numpy as np

    from make_hidden import MASSIVE, to_bf16_bits

    n, d, k = args.n, args.d, args.classes
    rng = np.random.default_rng(args.seed)
    half = n // 2
    # Arbitrary integer token ids as labels, the same samples in every checkpoint.
    tokens = rng.choice(np.arange(10_000, 40_000), size=k, replace=False).astype(np.int64)
    classes = rng.integers(0, k, size=n)
    labels = tokens[classes]
    memorised = (rng.random(n) < 0.1).astype(np.int64)
    np.save(args.data / "memorised.npy", memorised)
    centres = rng.standard_normal((args.layers, k, d), dtype=np.float32) * np.float32(0.35)
    massive = [m for m in MASSIVE if m < d]
    for c in range(args.checkpoints):
        fv = args.data / "ckpts" / f"checkpoint-{(c + 1) * 100}" / "forward_values"
        fv.mkdir(parents=True, exist_ok=True)
        for s, rows in enumerate((slice(0, half), slice(half, n))):
            count = rows.stop - rows.start
            names = [f"mcq_states_layer_{8 + 2 * layer}" for layer in range(args.layers)]
            size = count * d * 2
            header = {name: {"dtype": "BF16", "shape": [count, d], "data_offsets": [i * size, (i + 1) * size]}
                      for i, name in enumerate(names)}
            write_safetensors(fv / f"train_{s:03}.safetensors", header, (
                to_bf16_bits(np.ascontiguousarray(layer_states(rng, centres[layer], classes[rows], memorised[rows],
                                                              c, massive))).tobytes()
                for layer in range(args.layers)
            ))
            label_bytes = labels[rows].astype("<i8").tobytes()
            write_safetensors(fv / f"train_{s:03}.labels.safetensors",
                              {"mcq_labels": {"dtype": "I64", "shape": [count], "data_offsets": [0, len(label_bytes)]}},
                              [label_bytes])


def layer_states(rng, centres, classes, memorised, checkpoint, massive):
    """make_hidden.py's values; memorised samples drift towards their class centre as
    training goes on (a checkpoint's index scales the pull)."""
    import numpy as np

    rows, d = len(classes), centres.shape[1]
    scale = np.exp(0.5 * rng.standard_normal((rows, 1), dtype=np.float32))
    z = rng.standard_normal((rows, d), dtype=np.float32)
    noise = z * (np.float32(0.5) + np.float32(0.15) * z * z)
    pull = np.where(memorised[:, None] == 1, np.float32(1.0 / (1 + checkpoint)), np.float32(1.0))
    x = centres[classes] + scale * noise * pull
    for m in massive:
        x[:, m] = x[:, m] * 20.0 + 60.0
    return x.astype(np.float32)


def write_safetensors(path, header, chunks):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        for chunk in chunks:
            f.write(chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000, help="samples, in two shards")
    parser.add_argument("--d", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=11)
    parser.add_argument("--checkpoints", type=int, default=3)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--n-estimators", default="2000")
    parser.add_argument("--quantiles", default="0.01,0.99")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, required=True, help="directory for the generated files")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--psmi", type=Path, help="a prebuilt psmi binary")
    parser.add_argument("--clean", action="store_true", help="delete the generated files at the end")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data = args.data / f"sweep_n{args.n}_d{args.d}_l{args.layers}_c{args.checkpoints}"
    if args.generate:
        return generate(args)

    from compare import build, fresh_dir, log, machine, run_child, venv_python

    psmi = args.psmi or build("psmi-cli", "psmi")
    if not (args.data / "memorised.npy").exists():
        log(f"generating {args.data}")
        args.data.mkdir(parents=True, exist_ok=True)
        run_child([venv_python(), Path(__file__).resolve(), *sys.argv[1:], "--generate"], "sweep.py --generate",
                  cwd=HERE)
    ckpts = args.data / "ckpts"
    base = [
        psmi, "fit-transform", "--runs", ckpts / "checkpoint-*",
        "--features", "{run}/forward_values/train_???.safetensors:mcq_states_layer_*",
        "--labels", "{run}/forward_values/train_???.labels.safetensors:mcq_labels",
        "--n-estimators", args.n_estimators, "--against", args.data / "memorised.npy", "--quiet",
    ]
    variants = [("without --quantiles", []), (f"--quantiles {args.quantiles}", ["--quantiles", args.quantiles])]
    runs = {name: [] for name, _ in variants}
    for rep in range(args.reps + 1):
        for i, (name, extra) in enumerate(variants):
            out = fresh_dir(args.data / f"out{i}")
            run = run_child([*base, "--out", out, *extra], name)
            if rep > 0:
                runs[name].append(run)
            log(f"{name}: {run.seconds:.2f} s ({run.cpu:.2f} s CPU), {run.peak_mib:.0f} MiB")
    summary = json.loads((args.data / "out1" / "summary.json").read_text())

    print(f"\n{machine()}; n = {args.n} (2 shards), d = {args.d}, {args.layers} bf16 layers × "
          f"{args.checkpoints} checkpoints, {args.classes} labels, m = {args.n_estimators}; "
          f"medians of {args.reps} alternating runs after one untimed run each\n")
    print("| sweep | time (s) | CPU time (s) | per layer (s) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    medians = {}
    for name, _ in variants:
        seconds = statistics.median(r.seconds for r in runs[name])
        cpu = statistics.median(r.cpu for r in runs[name])
        peak = max(r.peak_mib for r in runs[name])
        medians[name] = seconds
        print(f"| {name} | {seconds:.2f} | {cpu:.2f} | {seconds / (args.layers * args.checkpoints):.3f} | {peak:.0f} |")
    base_time, with_q = medians.values()
    print(f"\n--quantiles costs {with_q / base_time:.2f}× the sweep without (goal ≤ 1.25×); "
          f"best by AUROC: {summary['best']}")
    if args.clean:
        shutil.rmtree(args.data)


if __name__ == "__main__":
    main()
