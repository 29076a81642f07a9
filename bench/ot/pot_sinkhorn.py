#!/usr/bin/python3
"""Times POT's Sinkhorn (ot.sinkhorn) for the C++ OT benchmark; prints one JSON line on stdout.

Run with Debian's Python (python3-pot 0.8.2, python3-numpy), e.g. from the C++ benchmark through popen:
    /usr/bin/python3 bench/ot/pot_sinkhorn.py --n 1024 --m 1024 --d 2 --eps 0.05 --method sinkhorn_log \
        --iterations 100 --threads 1 --repetitions 5 --seed 1 --dtype float64
    /usr/bin/python3 bench/ot/pot_sinkhorn.py ... --iterations 10000 --to-tolerance 1e-6

Problem: X (n x d), Y (m x d) uniform in [0, 1)^d from numpy.random.default_rng(seed) (X drawn first), cost
C = ot.dist(X, Y) (squared Euclidean) / max(C), uniform weights a = 1/n, b = 1/m, all in --dtype.

Fixed-iteration mode (default): each repetition calls
    ot.sinkhorn(a, b, C, eps, method=..., numItermax=K, stopThr=0, log=True)
stopThr=0 never stops early, so POT runs K iterations (its timing includes POT's own b-marginal check every
10 iterations and the final plan; POT then warns that it "did not converge", which is expected here and is
reported in "warnings" like any other message).  ms_per_iteration = wall time of the call / iterations run.
"iterations_run" is POT's log['niter'] + 1 of the last repetition; it is below K only when POT stopped on
its own (the scaling-domain "sinkhorn" stops at "numerical errors" for small eps).

--to-tolerance TOL: each repetition calls ot.sinkhorn(..., numItermax=K, stopThr=TOL, log=True), i.e. runs
until POT's marginal error ||P^T 1 - b||_2 (checked every 10 iterations) is below TOL or K iterations;
reports the total ms per repetition, the iterations used and whether it converged (last error < TOL).

Output keys: method, n, m, d, eps, dtype, threads, seed, repetitions, iterations (K), mode, timings
(ms_per_iteration_median / _all, or total_ms_median / _all with iterations_used, converged,
final_pot_error), iterations_run, setup_ms (one build of C: ot.dist + scaling), warnings (distinct messages from all repetitions), marginal_error_b (||P^T 1 - b||_2
of the last plan, in float64), marginal_error_a, finite (the last plan is all finite), versions, blas
(threadpoolctl's view of the BLAS thread pools, if threadpoolctl is installed).
Threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS (and BLIS_NUM_THREADS) are set from
--threads before numpy is imported.  NumPy's exp / logsumexp are single-threaded whatever the setting; only
BLAS calls (ot.dist, the K v products of method "sinkhorn") could use the threads, and Debian's NumPy here
links the netlib reference libblas.so.3 (single-threaded, not vectorized), which "blas" shows: on this
setup --threads changes nothing measurable for POT.
"""

import argparse
import json
import os
import statistics
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--m", type=int, default=None, help="default: n")
    p.add_argument("--d", type=int, default=2)
    p.add_argument("--eps", type=float, required=True)
    p.add_argument("--method", choices=("sinkhorn_log", "sinkhorn"), default="sinkhorn_log")
    p.add_argument("--iterations", type=int, default=100, help="K: iterations, or numItermax with --to-tolerance")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--to-tolerance", type=float, default=None, metavar="TOL")
    args = p.parse_args(argv)
    if args.m is None:
        args.m = args.n
    if min(args.n, args.m, args.d, args.iterations, args.threads, args.repetitions) < 1 or not args.eps > 0:
        p.error("n, m, d, iterations, threads, repetitions must be >= 1 and eps > 0")
    return args


ARGS = parse_args(sys.argv[1:])
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import ot  # noqa: E402


def blas_info():
    """BLAS / LAPACK / OpenMP libraries mapped into this process (from /proc/self/maps), and threadpoolctl's view."""
    libs = set()
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split()[-1]
                name = os.path.basename(path).lower()
                if (path.startswith("/") and "cpython" not in name
                        and any(k in name for k in ("blas", "lapack", "mkl", "gomp", "omp"))):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    pools = None
    try:
        import threadpoolctl
        pools = [{"api": i.get("internal_api"), "library": os.path.basename(i.get("filepath", "")),
                  "num_threads": i.get("num_threads")} for i in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    return {"libraries": sorted(libs), "threadpools": pools}


def main(args):
    dtype = np.float64 if args.dtype == "float64" else np.float32
    rng = np.random.default_rng(args.seed)
    X = rng.uniform(0.0, 1.0, size=(args.n, args.d)).astype(dtype)
    Y = rng.uniform(0.0, 1.0, size=(args.m, args.d)).astype(dtype)
    a = np.full(args.n, 1.0 / args.n, dtype=dtype)
    b = np.full(args.m, 1.0 / args.m, dtype=dtype)

    t0 = time.perf_counter()
    C = ot.dist(X, Y)
    C = C / C.max()
    setup_ms = (time.perf_counter() - t0) * 1e3

    stop = 0.0 if args.to_tolerance is None else args.to_tolerance
    times, used, converged, last_err = [], [], [], []
    messages = []
    P, log = None, None
    for _ in range(args.repetitions):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            P, log = ot.sinkhorn(a, b, C, args.eps, method=args.method, numItermax=args.iterations, stopThr=stop,
                                 log=True)
            elapsed = (time.perf_counter() - t0) * 1e3
        for w in caught:
            text = "%s: %s" % (w.category.__name__, w.message)
            if text not in messages:
                messages.append(text)
        iters = int(log["niter"]) + 1
        errs = [float(e) for e in log.get("err", [])]
        times.append(elapsed)
        used.append(iters)
        last_err.append(errs[-1] if errs else float("nan"))
        converged.append(bool(errs) and errs[-1] < stop)

    P64 = np.asarray(P, dtype=np.float64)
    finite = bool(np.all(np.isfinite(P64)))
    err_b = float(np.linalg.norm(P64.sum(axis=0) - b.astype(np.float64)))
    err_a = float(np.linalg.norm(P64.sum(axis=1) - a.astype(np.float64)))

    out = {"method": args.method, "n": args.n, "m": args.m, "d": args.d, "eps": args.eps, "dtype": args.dtype,
           "plan_dtype": str(P.dtype), "threads": args.threads, "seed": args.seed,
           "repetitions": args.repetitions, "iterations": args.iterations}
    if args.to_tolerance is None:
        per_it = [t / k for t, k in zip(times, used)]
        out.update({"mode": "fixed_iterations",
                    "ms_per_iteration_median": statistics.median(per_it),
                    "ms_per_iteration_all": per_it,
                    "iterations_run": used[-1]})
    else:
        out.update({"mode": "to_tolerance", "tolerance": args.to_tolerance,
                    "total_ms_median": statistics.median(times), "total_ms_all": times,
                    "iterations_used": used[-1], "iterations_used_all": used,
                    "converged": all(converged), "final_pot_error": last_err[-1]})
    out.update({"setup_ms": setup_ms, "warnings": messages, "marginal_error_b": err_b, "marginal_error_a": err_a,
                "finite": finite,
                "versions": {"pot": ot.__version__, "numpy": np.__version__,
                             "python": "%d.%d.%d" % sys.version_info[:3]},
                "blas": blas_info()})
    # NaN / inf are not JSON: write them as null.
    print(json.dumps(_nulls(out), allow_nan=False), flush=True)
    return 0


def _nulls(x):
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _nulls(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nulls(v) for v in x]
    return x


if __name__ == "__main__":
    sys.exit(main(ARGS))
