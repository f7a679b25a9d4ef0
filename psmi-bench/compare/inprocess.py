#!/usr/bin/env python3
"""psmi_rs against the package psmi 0.2.0 from Python: `PSMI(n_estimators=500)
.fit_transform(X, y)` on W1 (n 10000, d 512, 10 classes).

- speed: both in one Python process, alternately (inprocess_run.py speed);
- peak memory: one process per implementation (peak RSS from os.wait4), beside
  a baseline process that imports both and loads the data;
- the Python layer's overhead: psmi_rs's time against the Rust library's own
  time for the same work, measured two ways: in the same process through the
  extension module's call alone (inputs already converted), and in the `psmi`
  program (`elapsed_s` of `psmi fit-transform`, which times
  `Psmi::fit_transform_with` alone, in a fresh process).

Standard library only; it reuses compare.py's venv (psmi, numpy) and data, and
installs psmi_rs into that venv with `pip install ./psmi-py`. See README.md.
"""

import argparse
import json
import os
import statistics
import sys

from compare import (
    HERE,
    WORK,
    WORKSPACE,
    Workload,
    build,
    data_files,
    fresh_dir,
    last_json,
    log,
    machine,
    run_child,
    venv_python,
)

RUNNER = HERE / "inprocess_run.py"
GOALS = {"speed": 15.0, "memory": 10.0, "overhead": 0.05}


def install(python):
    log("pip install ./psmi-py into the venv")
    run_child([python, "-m", "pip", "install", "--quiet", WORKSPACE / "psmi-py"], "pip install ./psmi-py")


def rust_elapsed(psmi, features, labels, m, full, reps):
    """Median `elapsed_s` of the library's fit_transform, run by the psmi program."""
    elapsed = []
    for rep in range(reps):
        out = fresh_dir(WORK / "out" / "inprocess-rust")
        command = [
            psmi, "fit-transform", "--features", features, "--labels", labels, "--out", out,
            "--n-estimators", m, "--seed", rep, "--quiet",
        ]
        run_child(command + (["--full"] if full else []), "psmi fit-transform")
        elapsed.append(json.loads((out / "summary.json").read_text())["elapsed_s"])
    return statistics.median(elapsed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="repetitions of ours (default 20)")
    parser.add_argument("--package-every", type=int, default=4,
                        help="run the package every Nth repetition (default 4: 5 runs of it)")
    parser.add_argument("--quick", action="store_true", help="a small W1 (smoke test)")
    parser.add_argument("--no-install", action="store_true", help="use the psmi_rs already in the venv")
    args = parser.parse_args()
    w1 = Workload("W1", "w1", *((2000, 128, 10) if args.quick else (10000, 512, 10)), "500")
    python = venv_python()
    if not args.no_install:
        install(python)
    psmi = build("psmi-cli", "psmi")
    features, labels = data_files(python, w1)
    files = ["--features", features, "--labels", labels, "--n-estimators", w1.n_estimators]

    log("speed: both in one process")
    speed = last_json(run_child(
        [python, RUNNER, "speed", *files, "--reps", args.reps, "--package-every", args.package_every], "speed"
    ).stdout)
    medians = {name: statistics.median(t["wall"]) for name, t in speed.items()}
    cpu = {name: statistics.median(t["cpu"]) for name, t in speed.items()}
    fastest = {name: min(t["wall"]) for name, t in speed.items()}

    peaks = {}
    for impl in ["baseline", "package", "ours", "ours-no-full", "baseline"]:
        log(f"memory: {impl}")
        run = run_child([python, RUNNER, "memory", *files, "--impl", impl], f"memory {impl}")
        peaks[impl] = max(peaks.get(impl, 0.0), run.peak_mib)

    log("the Rust library alone")
    rust_full = rust_elapsed(psmi, features, labels, w1.n_estimators, True, 5)
    rust_no_full = rust_elapsed(psmi, features, labels, w1.n_estimators, False, 5)

    def above(impl):
        return peaks[impl] - peaks["baseline"]

    speedup = medians["package"] / medians["ours"]
    memory_ratio = above("package") / above("ours-no-full")
    print(f"\n{w1.name}: n {w1.n}, d {w1.d}, {w1.classes} classes, n_estimators {w1.n_estimators}; "
          f"{machine()}; medians of {len(speed['package']['wall'])} runs of the package, "
          f"{len(speed['ours']['wall'])} of ours (fastest in brackets)\n")
    print("| | package `psmi` | `psmi_rs` | ratio | goal |")
    print("|---|---|---|---|---|")
    print(f"| fit_transform, full=True, wall (s) | {medians['package']:.3f} ({fastest['package']:.3f}) | "
          f"{medians['ours']:.3f} ({fastest['ours']:.3f}) | {speedup:.1f}× faster "
          f"({fastest['package'] / fastest['ours']:.1f}×) | ≥ {GOALS['speed']:.0f}× |")
    print(f"| fit_transform, full=True, CPU of all threads (s) | {cpu['package']:.3f} | {cpu['ours']:.3f} | "
          f"{cpu['package'] / cpu['ours']:.1f}× less | |")
    print(f"| fit_transform, full=False, wall (s) | — | {medians['ours_no_full']:.3f} "
          f"({fastest['ours_no_full']:.3f}) | {medians['package'] / medians['ours_no_full']:.1f}× faster | |")
    print(f"| peak RSS above baseline, full=False (MiB) | {above('package'):.0f} | {above('ours-no-full'):.0f} "
          f"| {memory_ratio:.1f}× less | ≥ {GOALS['memory']:.0f}× |")
    print(f"| peak RSS above baseline, full=True (MiB) | {above('package'):.0f} | {above('ours'):.0f} | "
          f"{above('package') / above('ours'):.1f}× less | |")
    print(f"| peak RSS, whole process (MiB; baseline {peaks['baseline']:.0f}) | {peaks['package']:.0f} | "
          f"{peaks['ours-no-full']:.0f} (full=False), {peaks['ours']:.0f} (full=True) | | |")

    def overhead(ours, library):
        return f"{ours / library - 1.0:+.1%}"

    print("\n| Python layer over the Rust library | `psmi_rs` | extension call alone | overhead | "
          "`psmi` program's `elapsed_s` | overhead | goal |")
    print("|---|---|---|---|---|---|---|")
    for label, ours, native, rust in [
        ("full=True, wall (s)", medians["ours"], medians["native"], rust_full),
        ("full=True, fastest (s)", fastest["ours"], fastest["native"], rust_full),
        ("full=True, CPU (s)", cpu["ours"], cpu["native"], None),
        ("full=False, wall (s)", medians["ours_no_full"], medians["native_no_full"], rust_no_full),
        ("full=False, fastest (s)", fastest["ours_no_full"], fastest["native_no_full"], rust_no_full),
        ("full=False, CPU (s)", cpu["ours_no_full"], cpu["native_no_full"], None),
    ]:
        program = "—" if rust is None else f"{rust:.3f} | {overhead(ours, rust)}"
        program = "— | —" if rust is None else program
        print(f"| {label} | {ours:.3f} | {native:.3f} | {overhead(ours, native)} | {program} | "
              f"≤ {GOALS['overhead']:.0%} |")
    print(f"\nload average during the run (1, 5, 15 min): {os.getloadavg()}")
    print("\nraw:", json.dumps({"speed": speed, "peaks_mib": peaks, "rust_full_s": rust_full,
                                "rust_no_full_s": rust_no_full}))


if __name__ == "__main__":
    sys.exit(main())
