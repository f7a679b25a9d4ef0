"""The numpy half of compare.py; runs under the venv's python (numpy, psmi).

Subcommands, each printing one JSON line on stdout:

  generate       write a Gaussian-mixture workload (float32 features, int64 labels)
  fit-transform  run psmi.PSMI(n_estimators=...).fit_transform on .npy files and
                 save psmi_mean.npy and psmi_std.npy (timed by the caller as a
                 whole process)
  sgemm          median seconds of a float32 matmul (OpenBLAS, default threads),
                 and the BLAS kernel that ran, as threadpoolctl reports it
                 (run it without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE so
                 that OpenBLAS picks its own kernel for this CPU)
  agree          compare our mean PSMI with the Python package's
"""

import argparse
import json
import os
import time

import numpy as np


def generate(args):
    rng = np.random.default_rng(args.seed)
    # Class means with |mu|^2 ~ separation^2 * d: along a random unit direction
    # they spread about `separation` noise standard deviations apart, so the
    # classes overlap on every slice but are not indistinguishable.
    means = rng.standard_normal((args.classes, args.d)) * args.separation
    labels = rng.integers(0, args.classes, size=args.n, dtype=np.int64)
    features = rng.standard_normal((args.n, args.d), dtype=np.float32)
    features += means[labels].astype(np.float32)
    os.makedirs(os.path.dirname(args.features) or ".", exist_ok=True)
    np.save(args.features, features)
    np.save(args.labels, labels)
    print(json.dumps({"n": args.n, "d": args.d, "classes": args.classes}))


def fit_transform(args):
    from psmi import PSMI

    features = np.load(args.features)
    labels = np.load(args.labels)
    np.random.seed(args.seed)
    n_estimators = "auto" if args.n_estimators == "auto" else int(args.n_estimators)
    estimator = PSMI(n_estimators=n_estimators)
    mean, std, _ = estimator.fit_transform(features, labels)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "psmi_mean.npy"), mean)
    np.save(os.path.join(args.out, "psmi_std.npy"), std)
    print(json.dumps({"n_estimators": int(estimator.n_estimators)}))


def sgemm(args):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.n, args.d), dtype=np.float32)
    b = rng.standard_normal((args.d, args.m), dtype=np.float32)
    c = a @ b  # warm-up: thread pool start, page faults of the output
    seconds = []
    for _ in range(args.runs):
        start = time.perf_counter()
        c = a @ b
        seconds.append(time.perf_counter() - start)
    assert c.dtype == np.float32
    median = float(np.median(seconds))
    gflops = 2.0 * args.n * args.d * args.m / median / 1e9
    print(json.dumps({"seconds": median, "gflops": gflops, "blas": blas_kernel()}))


def blas_kernel():
    """The BLAS library numpy calls, its kernel (OpenBLAS's core type) and threads."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {key: pool.get(key) for key in ("internal_api", "version", "architecture", "num_threads")}
    return None


def ranks(values):
    order = np.argsort(values, kind="stable")
    out = np.empty(len(values))
    out[order] = np.arange(len(values))
    return out


def agree(args):
    ours = np.load(os.path.join(args.ours, "psmi_mean.npy"))
    python = np.load(os.path.join(args.python, "psmi_mean.npy"))
    python_std = np.load(os.path.join(args.python, "psmi_std.npy"))
    if ours.shape != python.shape:
        raise SystemExit(f"error: {ours.shape} samples of ours, {python.shape} of Python's")
    # Python's ratio of densities is NaN (0/0) for points far from every class.
    finite = np.isfinite(ours) & np.isfinite(python) & np.isfinite(python_std)
    ours, python, python_std = ours[finite], python[finite], python_std[finite]
    spearman = float(np.corrcoef(ranks(ours), ranks(python))[0, 1])
    # Two estimates from independent directions agree only as far as their
    # noise allows: each sample's mean over m directions carries a variance
    # std^2 / m, so the correlation to expect is var(true) / var(estimate).
    noise = float(np.mean(python_std**2)) / args.n_estimators
    spread = float(python.var())
    expected = max(0.0, (spread - noise) / spread) if spread > 0 else 0.0
    print(
        json.dumps(
            {
                "smi_ours": float(ours.mean()),
                "smi_python": float(python.mean()),
                "spearman": spearman,
                "expected_correlation": expected,
                "non_finite": int((~finite).sum()),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("generate")
    p.add_argument("--features", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--d", type=int, required=True)
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--separation", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=generate)

    p = commands.add_parser("fit-transform")
    p.add_argument("--features", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n-estimators", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=fit_transform)

    p = commands.add_parser("sgemm")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--d", type=int, required=True)
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--runs", type=int, default=7)
    p.set_defaults(run=sgemm)

    p = commands.add_parser("agree")
    p.add_argument("--ours", required=True)
    p.add_argument("--python", required=True)
    p.add_argument("--n-estimators", type=int, required=True, help="directions of each run")
    p.set_defaults(run=agree)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
