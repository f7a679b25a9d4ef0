#!/usr/bin/env python3
"""Hidden states at scale: `psmi fit-transform` on LLM-shaped features, bf16 safetensors
against the same values as f32 .npy, and bf16 streamed within `--max-memory`.

Every run is a whole process, the variants alternating; wall time and peak RSS come
from os.wait4 (compare.py's run_child). The data is made by make_hidden.py under
compare.py's venv, in chunks; it is large (n × d × 6 bytes with --f32): pass
--data DIR on a disk with room, and delete it afterwards (--clean).

    python3 psmi-bench/compare/scale.py --n 400000 --d 4096 --data /big/dir --reps 3
    python3 psmi-bench/compare/scale.py --n 1000000 --d 4096 --data /big/dir --no-f32 --reps 1
    python3 psmi-bench/compare/scale.py --n 400000 --d 4096 --data /big/dir --no-f32 --bf16-precision

--bf16-precision adds the bf16 input with `--precision bf16` (bf16 dot products),
whose scores differ from the f32 projection's: it is left out of the check that
every input gives the same psmi_mean.npy.
"""

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from compare import build, fresh_dir, log, machine, run_child, venv_python

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400000)
    parser.add_argument("--d", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--n-estimators", default="500")
    parser.add_argument("--max-memory", default="1GiB")
    parser.add_argument("--data", type=Path, required=True, help="directory for the generated files")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-f32", action="store_true", help="bf16 only (no f32 .npy)")
    parser.add_argument("--bf16-precision", action="store_true", help="also the bf16 input with --precision bf16")
    parser.add_argument("--psmi", type=Path, help="a prebuilt psmi binary")
    parser.add_argument("--clean", action="store_true", help="delete the generated files at the end")
    args = parser.parse_args()

    psmi = args.psmi or build("psmi-cli", "psmi")
    prefix = args.data / f"h_n{args.n}_d{args.d}_k{args.classes}"
    bf16 = Path(f"{prefix}_bf16.safetensors")
    f32 = Path(f"{prefix}_f32.npy")
    labels = Path(f"{prefix}_labels.npy")
    if not (bf16.exists() and labels.exists() and (args.no_f32 or f32.exists())):
        log(f"generating {prefix}")
        python = venv_python()
        args.data.mkdir(parents=True, exist_ok=True)
        command = [python, HERE / "make_hidden.py", args.n, args.d, prefix, "--classes", args.classes]
        run_child(command + ([] if args.no_f32 else ["--f32"]), "make_hidden.py")

    variants = [("bf16 safetensors", [f"{bf16}:hidden"])]
    if not args.no_f32:
        variants.insert(0, ("f32 npy", [f32]))
    variants.append((f"bf16 --max-memory {args.max_memory}", [f"{bf16}:hidden", "--max-memory", args.max_memory]))
    if args.bf16_precision:
        variants.append(("bf16 --precision bf16", [f"{bf16}:hidden", "--precision", "bf16"]))

    work = args.data / "out"
    runs = {name: [] for name, _ in variants}
    means = {}
    # One untimed run each first, so that every timed run finds the files in the page cache.
    for rep in range(args.reps + 1):
        for i, (name, extra) in enumerate(variants):
            out = fresh_dir(work / f"v{i}")
            command = [psmi, "fit-transform", "--features", extra[0], "--labels", labels, "--out", out,
                       "--n-estimators", args.n_estimators, "--quiet", *extra[1:]]
            run = run_child(command, name)
            if "--precision" not in extra:
                means[name] = (out / "psmi_mean.npy").read_bytes()
            if rep > 0:
                runs[name].append(run)
            log(f"{name}: {run.seconds:.2f} s ({run.cpu:.2f} s CPU), {run.peak_mib:.0f} MiB")
    reference = next(iter(means.values()))
    same = all(m == reference for m in means.values())

    print(f"\n{machine()}; n = {args.n}, d = {args.d}, {args.classes} classes, "
          f"m = {args.n_estimators}; medians of {args.reps} alternating runs\n")
    print("| input | file | time (s) | CPU time (s) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for name, extra in variants:
        size = Path(str(extra[0]).split(":")[0]).stat().st_size / 2**20
        seconds = statistics.median(r.seconds for r in runs[name])
        cpu = statistics.median(r.cpu for r in runs[name])
        peak = statistics.median(r.peak_mib for r in runs[name])
        print(f"| {name} | {size:.0f} MiB | {seconds:.2f} | {cpu:.2f} | {peak:.0f} |")
    print(f"\npsmi_mean.npy identical across inputs (f32 projection): {same}")
    if args.clean:
        shutil.rmtree(args.data)
    if not same:
        sys.exit("error: the inputs gave different psmi_mean.npy")


if __name__ == "__main__":
    main()
