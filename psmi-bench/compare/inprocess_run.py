"""The numpy half of inprocess.py; runs under the venv's python (numpy, psmi, psmi_rs).

Subcommands, each printing one JSON line on stdout:

  speed   in one process, `PSMI(n_estimators=M).fit_transform(X, y)` of the
          package and of psmi_rs, alternately, `--reps` times (the package
          every `--package-every`-th time; after one warm-up run of each); ours also with full=False, and the extension
          module's own call (`_native`, inputs already converted)
  memory  one `fit_transform` of one implementation (`--impl package`, `ours`,
          `ours-no-full`), or none (`baseline`: imports and data only); the
          caller reads the process's peak RSS
"""

import argparse
import json
import time

import numpy as np


def load(args):
    return np.load(args.features), np.load(args.labels)


def package_run(x, y, m, seed):
    from psmi import PSMI

    np.random.seed(seed)
    return PSMI(n_estimators=m).fit_transform(x, y)


def ours_run(x, y, m, seed, full=True):
    from psmi_rs import PSMI

    return PSMI(n_estimators=m, random_state=seed, full=full).fit_transform(x, y)


def native_run(x, y, m, seed, full=True):
    """The library through the extension module alone, on inputs already
    converted: what the Python layer adds is the rest of ours_run."""
    from psmi_rs import _native

    estimator = _native.Estimator(m, 500, 0.05, 0.05, 0.5, 50000, seed, None)
    return estimator.fit_transform(x, y, full)


def timed(run):
    """Wall seconds and this process's CPU seconds (all threads) of `run()`.
    On a shared machine CPU time is the steadier of the two: it does not
    count the time spent waiting for a core."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def speed(args):
    x, y = load(args)
    m = int(args.n_estimators)
    package_run(x, y, m, 0)
    ours_run(x, y, m, 0)
    x32, y64 = np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64)
    names = ("package", "ours", "ours_no_full", "native", "native_no_full")
    times = {name: {"wall": [], "cpu": []} for name in names}
    for rep in range(args.reps):
        runs = [
            ("package", lambda: package_run(x, y, m, rep)),
            ("ours", lambda: ours_run(x, y, m, rep)),
            ("ours_no_full", lambda: ours_run(x, y, m, rep, full=False)),
            ("native", lambda: native_run(x32, y64, m, rep)),
            ("native_no_full", lambda: native_run(x32, y64, m, rep, full=False)),
        ]
        # The package only every `--package-every` repetitions: ours are short
        # and need more repetitions to show a few per cent.
        if rep % args.package_every:
            runs = runs[1:]
        if rep % 2:
            runs.reverse()
        for name, run in runs:
            wall, cpu = timed(run)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    print(json.dumps(times))


def memory(args):
    x, y = load(args)
    import psmi  # noqa: F401  (both imported in every case: the same baseline)
    import psmi_rs  # noqa: F401

    m = int(args.n_estimators)
    if args.impl == "package":
        mean, _, _ = package_run(x, y, m, 0)
    elif args.impl == "ours":
        mean, _, _ = ours_run(x, y, m, 0)
    elif args.impl == "ours-no-full":
        mean, _, _ = ours_run(x, y, m, 0, full=False)
    else:
        mean = np.zeros(len(y))
    print(json.dumps({"impl": args.impl, "mean_of_means": float(np.mean(mean))}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("speed", "memory"):
        p = sub.add_parser(name)
        p.add_argument("--features", required=True)
        p.add_argument("--labels", required=True)
        p.add_argument("--n-estimators", default="500")
        if name == "speed":
            p.add_argument("--reps", type=int, default=20)
            p.add_argument("--package-every", type=int, default=4)
        else:
            p.add_argument("--impl", choices=["package", "ours", "ours-no-full", "baseline"], required=True)
    args = parser.parse_args()
    {"speed": speed, "memory": memory}[args.command](args)


if __name__ == "__main__":
    main()
