#!/usr/bin/env python3
"""Side-by-side comparison of `psmi fit-transform` with the Python package psmi 0.2.0,
and of our projection kernel with OpenBLAS sgemm.

Standard library only: numpy runs in child processes under the venv this script
creates (psmi-bench/compare/.venv). Every program is timed as a whole process,
alternately, with its peak resident memory from os.wait4. See README.md.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKSPACE = HERE.parent.parent
VENV = HERE / ".venv"
WORK = HERE / "work"
RUNNER = HERE / "run_python.py"
PYTHON_PACKAGES = ["psmi==0.2.0", "numpy==2.4.6", "threadpoolctl==3.6.0"]

# Variables that pin OpenBLAS to another CPU's kernel or cache size: removed
# for the sgemm side only, so that OpenBLAS runs its own kernel for this CPU
# (the run reports which one, through threadpoolctl).
OPENBLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

GOALS = {
    "W1": {"speed": 12.0, "memory": 5.0},
    "W1-auto": {"speed": 30.0, "memory": 40.0},
    "W3": {"speed": 3.0, "memory": None},
    "sgemm": 0.95,
    # The 2-thread speed-up as a fraction of what two 1-thread processes side by side deliver.
    "threads": 0.95,
}


class ChildFailed(Exception):
    """A child process exited with a non-zero status."""

    def __init__(self, label, command, status, stderr):
        super().__init__(label)
        self.label, self.command, self.status, self.stderr = label, command, status, stderr

    def report(self):
        command = " ".join(str(part) for part in self.command)
        return f"error: {self.label} failed (exit status {self.status}): {command}\n{self.stderr.rstrip()}"


@dataclass
class Run:
    """One child process: wall seconds, peak RSS (MiB), its stdout, and its CPU
    seconds (user + system), which other processes on a shared machine disturb less."""

    seconds: float
    peak_mib: float
    stdout: str
    cpu: float = 0.0


def run_child(command, label, cwd=None, env=None):
    """Runs `command` to the end; its rusage is its own (os.wait4), not this script's."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(part) for part in command], stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        # Tell Popen the child is reaped, so it does not wait for it again.
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if process.returncode != 0:
        raise ChildFailed(label, command, process.returncode, stderr or stdout)
    # ru_maxrss is in KiB on Linux.
    return Run(seconds, usage.ru_maxrss / 1024.0, stdout, usage.ru_utime + usage.ru_stime)


def last_json(text):
    """The last line of `text` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError(f"no JSON line in output: {text[-500:]!r}")


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- setup


def venv_python():
    """The venv's python, creating the venv and installing the packages if needed."""
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV}")
        run_child([sys.executable, "-m", "venv", VENV], "python -m venv")
    check = (
        "import importlib.metadata as m, sys; "
        f"want = {[p.split('==') for p in PYTHON_PACKAGES]!r}; "
        "sys.exit(any(m.version(n) != v for n, v in want))"
    )
    try:
        run_child([python, "-c", check], "package check")
    except ChildFailed:
        log(f"installing {' '.join(PYTHON_PACKAGES)} into {VENV}")
        run_child([python, "-m", "pip", "install", "--quiet", *PYTHON_PACKAGES], "pip install")
    return python


def cargo_target_dir():
    """Cargo's target directory (honours CARGO_TARGET_DIR and the workspace's config)."""
    meta = run_child(["cargo", "metadata", "--format-version", "1", "--no-deps"], "cargo metadata", cwd=WORKSPACE)
    return Path(json.loads(meta.stdout)["target_directory"])


def build(package, binary):
    log(f"building {binary} (release)")
    run_child(["cargo", "build", "--release", "-p", package, "--bin", binary], f"cargo build {binary}", cwd=WORKSPACE)
    path = cargo_target_dir() / "release" / binary
    if not path.exists():
        raise SystemExit(f"error: cargo built {binary} but {path} does not exist")
    return path


def machine():
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return f"{model}, {os.cpu_count()} cores"


# ---------------------------------------------------------------- workloads


@dataclass
class Workload:
    name: str
    data: str
    n: int
    d: int
    classes: int
    n_estimators: str  # an integer, or "auto"


def workloads(quick):
    if quick:
        w1, w3 = (2000, 128, 10), (500, 1024, 2)
        m1, m3 = "100", "400"
    else:
        w1, w3 = (10000, 512, 10), (2000, 4096, 2)
        m1, m3 = "500", "2000"
    return [
        Workload("W1", "w1", *w1, m1),
        Workload("W1-auto", "w1", *w1, "auto"),
        Workload("W3", "w3", *w3, m3),
    ]


def data_files(python, workload):
    """The workload's .npy files, generated once per shape."""
    stem = f"{workload.data}_n{workload.n}_d{workload.d}_k{workload.classes}"
    features, labels = WORK / f"{stem}_features.npy", WORK / f"{stem}_labels.npy"
    if not (features.exists() and labels.exists()):
        log(f"generating {stem}")
        WORK.mkdir(parents=True, exist_ok=True)
        run_child(
            [
                python, RUNNER, "generate", "--features", features, "--labels", labels,
                "--n", workload.n, "--d", workload.d, "--classes", workload.classes,
            ],
            f"generate {stem}",
        )
    return features, labels


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_python(python, features, labels, n_estimators, out, seed):
    command = [
        python, RUNNER, "fit-transform", "--features", features, "--labels", labels,
        "--out", fresh_dir(out), "--n-estimators", n_estimators, "--seed", seed,
    ]
    run = run_child(command, "Python psmi")
    return run, last_json(run.stdout)["n_estimators"]


def ours_command(psmi, features, labels, n_estimators, out, seed, threads=None):
    command = [
        psmi, "fit-transform", "--features", features, "--labels", labels,
        "--out", fresh_dir(out), "--n-estimators", n_estimators, "--seed", seed, "--quiet",
    ]
    if threads is not None:
        command += ["--threads", threads]
    return command


def run_ours(psmi, features, labels, n_estimators, out, seed, threads=None):
    run = run_child(ours_command(psmi, features, labels, n_estimators, out, seed, threads), "psmi fit-transform")
    summary = json.loads((out / "summary.json").read_text())
    return run, summary


def compare_workload(python, psmi, workload, reps):
    """Python and ours, alternately (the order swapped every repetition)."""
    features, labels = data_files(python, workload)
    out = WORK / "out" / workload.name
    py_runs, our_runs, py_m, our_m, our_elapsed = [], [], None, None, []
    for rep in range(reps):
        order = ("python", "ours") if rep % 2 == 0 else ("ours", "python")
        for side in order:
            log(f"{workload.name}: {side}, repetition {rep + 1} of {reps}")
            if side == "python":
                run, py_m = run_python(python, features, labels, workload.n_estimators, out / "python", rep)
                py_runs.append(run)
            else:
                run, summary = run_ours(psmi, features, labels, workload.n_estimators, out / "ours", rep)
                our_m = summary["n_estimators"]
                our_elapsed.append(summary.get("elapsed_s", float("nan")))
                our_runs.append(run)
    return {
        "workload": workload,
        "python_s": statistics.median(r.seconds for r in py_runs),
        "ours_s": statistics.median(r.seconds for r in our_runs),
        "ours_elapsed_s": statistics.median(our_elapsed),
        "python_mib": max(r.peak_mib for r in py_runs),
        "ours_mib": max(r.peak_mib for r in our_runs),
        "python_m": int(py_m),
        "ours_m": int(our_m),
        "out": out,
    }


def agreement(python, result):
    """Our mean PSMI against Python's on the same data (different directions)."""
    out = result["out"]
    check = run_child(
        [
            python, RUNNER, "agree", "--ours", out / "ours", "--python", out / "python",
            "--n-estimators", min(result["python_m"], result["ours_m"]),
        ],
        "agreement check",
    )
    values = last_json(check.stdout)
    smi_gap = abs(values["smi_ours"] - values["smi_python"]) / abs(values["smi_python"])
    # Loose: the two runs draw different directions, so the per-sample means
    # differ by their noise; the rank correlation can only be as high as that
    # noise allows (expected_correlation).
    values["smi_relative_gap"] = smi_gap
    values["ok"] = smi_gap <= 0.05 and values["spearman"] >= values["expected_correlation"] - 0.1
    return values


def sgemm_vs_throughput(python, throughput, shapes, runs):
    """OpenBLAS sgemm (its own kernel) and our projection at each shape, on 1
    and 2 threads, each beside the FMA peak throughput measures."""
    rows = []
    for n, d, m, classes in shapes:
        for threads in (1, 2):
            log(f"sgemm and throughput at {n}x{d} @ {d}x{m}, {threads} threads")
            env = {key: value for key, value in os.environ.items() if key not in OPENBLAS_PINS}
            env["OPENBLAS_NUM_THREADS"] = str(threads)
            blas = last_json(
                run_child(
                    [python, RUNNER, "sgemm", "--n", n, "--d", d, "--m", m, "--runs", runs], "numpy sgemm",
                    env=env,
                ).stdout
            )
            ours = throughput_json(throughput, n, d, m, classes, runs, threads)
            bf16 = throughput_json(throughput, n, d, m, classes, runs, threads, precision="bf16")
            rows.append({
                "shape": (n, d, m),
                "blas": blas["gflops"],
                "blas_kernel": (blas.get("blas") or {}).get("architecture"),
                "ours": ours["projection_gflops"],
                "fma_peak": ours["fma_peak_gflops"],
                "bf16": bf16["projection_gflops"],
                "bf16_peak": bf16["bf16_peak_gflops"],
                "isa": ours["isa"],
                "threads": ours["threads"],
            })
    return rows


def throughput_json(throughput, n, d, m, classes, runs, threads=None, precision="f32"):
    command = [throughput, "--n", n, "--d", d, "--m", m, "--classes", classes, "--runs", runs, "--json",
               "--precision", precision]
    if threads is not None:
        command += ["--threads", threads]
    return last_json(run_child(command, "throughput").stdout)


def side_by_side(commands):
    """Wall seconds from starting every command at once until the last one ends."""
    start = time.perf_counter()
    processes = [
        subprocess.Popen([str(part) for part in command], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for command in commands
    ]
    failures = [(command, process.wait(), process.stderr.read().decode(errors="replace"))
                for command, process in zip(commands, processes)]
    seconds = time.perf_counter() - start
    for command, status, stderr in failures:
        if status != 0:
            raise ChildFailed("psmi fit-transform (side by side)", command, status, stderr)
    return seconds


def thread_speedup(python, psmi, workload, reps):
    """--threads 1, --threads 2, and two --threads 1 processes side by side
    (the machine's ceiling for two threads), in turn every repetition."""
    features, labels = data_files(python, workload)
    out = WORK / "out" / f"{workload.name}-threads"
    times = {1: [], 2: [], "pair": []}
    elapsed = {1: [], 2: []}
    for rep in range(reps):
        for threads in (1, 2, "pair") if rep % 2 == 0 else ("pair", 2, 1):
            log(f"{workload.name}: --threads {threads}, repetition {rep + 1} of {reps}")
            if threads == "pair":
                commands = [ours_command(psmi, features, labels, workload.n_estimators,
                                         out.with_name(f"{out.name}-{i}"), 0, 1) for i in (0, 1)]
                times["pair"].append(side_by_side(commands))
                continue
            run, summary = run_ours(psmi, features, labels, workload.n_estimators, out, 0, threads)
            times[threads].append(run.seconds)
            elapsed[threads].append(summary.get("elapsed_s", float("nan")))
    result = {t: (statistics.median(times[t]), statistics.median(elapsed[t])) for t in (1, 2)}
    result["pair"] = statistics.median(times["pair"])
    return result


STAGES = ("directions_s", "pack_s", "projection_s", "statistics_s", "scoring_s", "summaries_s")


def scaling(throughput, base, runs):
    """Stage times at the base shape and with n, d and m each doubled."""
    n, d, m, classes = base
    shapes = {"base": (n, d, m), "n x2": (2 * n, d, m), "d x2": (n, 2 * d, m), "m x2": (n, d, 2 * m)}
    timings = {}
    for name, (sn, sd, sm) in shapes.items():
        log(f"scaling: throughput at {name} (n {sn}, d {sd}, m {sm})")
        report = throughput_json(throughput, sn, sd, sm, classes, runs)
        timings[name] = {stage: report[stage] for stage in STAGES}
        timings[name]["total"] = sum(report[stage] for stage in STAGES)
    return shapes, timings


# ---------------------------------------------------------------- report


def goal_text(value, goal):
    if goal is None:
        return "—"
    return f"{goal:g}× {'✓' if value >= goal else '✗'}"


def print_report(args, results, checks, sgemm_rows, threads, scale):
    print("# psmi-rs vs psmi 0.2.0 (Python)\n")
    print(f"- machine: {machine()}; load average (1, 5, 15 min) at the end: "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- repetitions: {args.reps} per side, alternating; medians of wall time; peak RSS is the maximum")
    print(f"- Python: {', '.join(PYTHON_PACKAGES)} (float64); ours: default threads, seed = repetition")
    if args.quick:
        print("- **--quick: small shapes, a smoke test; the goals are for the full shapes**")
    print()

    if results:
        print("| workload | n × d, k | directions (Python / ours) | Python s | ours s | speed-up | goal "
              "| Python MiB | ours MiB | memory ratio | goal |")
        print("|---|---|---|---:|---:|---:|---|---:|---:|---:|---|")
        for r in results:
            w = r["workload"]
            goals = GOALS[w.name]
            if w.n_estimators == "auto":
                # The two stop at different counts: compare time per direction.
                py = r["python_s"] / r["python_m"]
                ours = r["ours_s"] / r["ours_m"]
                times = f"{r['python_s']:.2f} ({py * 1e3:.2f} ms/dir) | {r['ours_s']:.2f} ({ours * 1e3:.3f} ms/dir)"
                speed, speed_note = py / ours, " per dir."
            else:
                times = f"{r['python_s']:.2f} | {r['ours_s']:.3f}"
                speed, speed_note = r["python_s"] / r["ours_s"], ""
            memory = r["python_mib"] / r["ours_mib"]
            print(
                f"| {w.name} | {w.n} × {w.d}, {w.classes} | {r['python_m']} / {r['ours_m']} | {times} "
                f"| {speed:.1f}×{speed_note} | {goal_text(speed, goals['speed'])} "
                f"| {r['python_mib']:.0f} | {r['ours_mib']:.0f} | {memory:.1f}× | {goal_text(memory, goals['memory'])} |"
            )
        print()
        for r in results:
            print(f"- {r['workload'].name}: ours reports elapsed_s {r['ours_elapsed_s']:.3f} s "
                  f"inside the process (wall {r['ours_s']:.3f} s)")
        print()

    for name, values in checks.items():
        verdict = "agree" if values["ok"] else "DISAGREE"
        print(
            f"Agreement on {name} ({verdict}): SMI ours {values['smi_ours']:.4f}, Python {values['smi_python']:.4f} "
            f"(gap {100 * values['smi_relative_gap']:.2f} %, at most 5 %); Spearman correlation of per-sample means "
            f"{values['spearman']:.3f}, expected from the directions' noise {values['expected_correlation']:.3f} "
            f"(at least that − 0.1); samples where either is not finite: {values['non_finite']}\n"
        )

    if sgemm_rows:
        fraction = lambda rate, peak: f"{rate / peak:.2f}" if peak else "—"
        print("OpenBLAS runs its own kernel (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that side); "
              "peaks measured by throughput on the same threads.\n")
        print("| projection n×d @ d×m | OpenBLAS sgemm GFLOP/s (kernel) | ours GFLOP/s | ours / OpenBLAS | goal "
              "| FMA peak | OpenBLAS / peak | ours / peak | ours bf16 GFLOP/s | bf16 peak | bf16 / peak |")
        print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for row in sgemm_rows:
            (n, d, m), nthreads = row["shape"], row["threads"]
            ratio = row["ours"] / row["blas"]
            print(f"| {n}×{d} @ {d}×{m} ({row['isa']}, {nthreads} thread{'s' * (nthreads > 1)}) "
                  f"| {row['blas']:.1f} ({row['blas_kernel']}) | {row['ours']:.1f} | {ratio:.2f}× "
                  f"| ≥ {goal_text(ratio, GOALS['sgemm'])} | {row['fma_peak'] or 0:.1f} "
                  f"| {fraction(row['blas'], row['fma_peak'])} | {fraction(row['ours'], row['fma_peak'])} "
                  f"| {row['bf16']:.1f} | {row['bf16_peak'] or 0:.1f} | {fraction(row['bf16'], row['bf16_peak'])} |")
        print()

    if threads:
        (t1, e1), (t2, e2), pair = threads[1], threads[2], threads["pair"]
        print("| W1, ours | wall s | elapsed_s (summary.json) |")
        print("|---|---:|---:|")
        print(f"| --threads 1 | {t1:.3f} | {e1:.3f} |")
        print(f"| --threads 2 | {t2:.3f} | {e2:.3f} |")
        print(f"| two --threads 1 processes side by side | {pair:.3f} | — |")
        print(f"| speed-up | {t1 / t2:.2f}× | {e1 / e2:.2f}× |")
        # Two runs in `pair` seconds: the throughput of two cores used independently.
        ceiling = 2 * t1 / pair
        print(f"\n2-thread speed-up {t1 / t2:.2f}× (wall); two 1-thread processes deliver {ceiling:.2f}× "
              f"the throughput of one; ratio {t1 / t2 / ceiling:.2f}, goal ≥ "
              f"{goal_text(t1 / t2 / ceiling, GOALS['threads'])}\n")

    if scale:
        shapes, timings = scale
        base = timings["base"]
        print("| throughput | n | d | m | projection s | ratio | scoring s | ratio | all stages s | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, (n, d, m) in shapes.items():
            t = timings[name]
            print(
                f"| {name} | {n} | {d} | {m} | {t['projection_s']:.4f} | {t['projection_s'] / base['projection_s']:.2f}× "
                f"| {t['scoring_s']:.4f} | {t['scoring_s'] / base['scoring_s']:.2f}× "
                f"| {t['total']:.4f} | {t['total'] / base['total']:.2f}× |"
            )
        print("\nLinear cost: every ratio ≈ 2×, except scoring (and class statistics, summaries) "
              "when only d doubles, which do not depend on d (≈ 1×).\n")


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=None, help="repetitions of each side (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke test of the whole script")
    parser.add_argument("--only", default=None, help="comma-separated workloads among W1, W1-auto, W3")
    parser.add_argument("--psmi", type=Path, default=None, help="use this psmi binary instead of building it")
    parser.add_argument(
        "--throughput", type=Path, default=None, help="use this throughput binary instead of building it"
    )
    parser.add_argument("--skip-extras", action="store_true", help="only the workloads: no sgemm, threads, scaling")
    args = parser.parse_args()
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    selected = workloads(args.quick)
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(names) - {w.name for w in selected})
        if unknown:
            parser.error(f"--only: unknown workload(s) {', '.join(unknown)}; choose among W1, W1-auto, W3")
        selected = [w for w in selected if w.name in names]

    try:
        python = venv_python()
        psmi = args.psmi or build("psmi-cli", "psmi")
        throughput = args.throughput or build("psmi-bench", "throughput")

        results = [compare_workload(python, psmi, w, args.reps) for w in selected]
        checks = {
            r["workload"].name: agreement(python, r) for r in results if r["workload"].name == "W1"
        }

        sgemm_rows, threads, scale = [], None, None
        if not args.skip_extras:
            runs = 3 if args.quick else 7
            w1, w3 = workloads(args.quick)[0], workloads(args.quick)[2]
            shapes = [(w.n, w.d, int(w.n_estimators), w.classes) for w in (w1, w3)]
            sgemm_rows = sgemm_vs_throughput(python, throughput, shapes, runs)
            threads = thread_speedup(python, psmi, w1, args.reps)
            scale = scaling(throughput, shapes[0], runs)
    except ChildFailed as failure:
        print(failure.report(), file=sys.stderr)
        return 1

    print_report(args, results, checks, sgemm_rows, threads, scale)
    if not all(values["ok"] for values in checks.values()):
        print("error: our mean PSMI disagrees with Python's beyond the noise of the directions", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
