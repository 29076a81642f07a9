#!/usr/bin/python3
"""Times the Parzen Cauchy-Schwarz divergence in NumPy and PyTorch for the C++ kernel benchmark; prints one JSON line.

Run with Debian's Python (python3-numpy, python3-torch), e.g. from bench/kernel/cauchy_schwarz_bench.cpp through popen:
    /usr/bin/python3 bench/kernel/cs_peers.py --impl torch --mode grad --input /tmp/points.bin --n 1000 --m 1000 \
        --d 16 --sigma 4 --dtype float32 --threads 1 --repetitions 3 --grad-out /tmp/grad.bin

Input: --input holds X (n x d) then Y (m x d), row-major float64 (written by the C++ benchmark, so that every
implementation sees the same points); they are converted to --dtype before timing.

Formula (the library's kernel::cauchy_schwarz with a fixed Parzen width sigma, CsScale::single): kernel width
h = sigma sqrt(2), k(a, b) = exp(-||a - b||^2 / (2 h^2)), S = sum_ij k(x_i, y_j), A = sum_ij k(x_i, x_j),
B = sum_ij k(y_i, y_j) (diagonals included), D = (1/2) log A + (1/2) log B - log S, each log-sum computed as
logsumexp of the kernel logarithms (never exp of a sum's terms without its maximum subtracted). Squared
distances as users write them: ||x||^2 + ||y||^2 - 2 x y^T (one GEMM), clamped at 0.

--mode value: D only. --mode grad: D and its gradients with respect to X and Y:
  numpy: written out, with P = exp(logk - logS) (softmax weights of S) and P_A, P_B likewise:
         dD/dX = -(1/h^2) (rowsum(P_A) X - P_A X) + (1/h^2) (rowsum(P) X - P Y), dD/dY symmetric;
  torch: autograd (X and Y leaves with requires_grad; their .grad reset to None before each call).
Timing: the median of --repetitions calls (wall clock, time.perf_counter), after one untimed warm-up call.
Threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS set from --threads before the imports, and
torch.set_num_threads(--threads). NumPy's exp and logsumexp are single-threaded anyway.
Output keys: impl, mode, n, m, d, sigma, dtype, threads, repetitions, ms_median, ms_all, value, grad_max_abs,
versions. --grad-out FILE: the gradients (X's then Y's, row-major, float64) are written there.
"""

import argparse
import json
import os
import statistics
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--impl", choices=("numpy", "torch"), required=True)
    p.add_argument("--mode", choices=("value", "grad"), default="value")
    p.add_argument("--input", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--d", type=int, required=True)
    p.add_argument("--sigma", type=float, required=True)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--grad-out", default=None)
    args = p.parse_args(argv)
    if min(args.n, args.m, args.d, args.threads, args.repetitions) < 1 or not args.sigma > 0:
        p.error("n, m, d, threads, repetitions must be >= 1 and sigma > 0")
    return args


ARGS = parse_args(sys.argv[1:])
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402


# ---------------------------------------------------------------------------------------------- NumPy

def np_logsumexp(a):
    m = a.max()
    return m + np.log(np.exp(a - m).sum(dtype=a.dtype))


def np_log_kernel(a, b, inv_two_h2):
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return -np.maximum(d2, 0.0) * inv_two_h2


def np_cs(x, y, h, grad):
    inv_two_h2 = x.dtype.type(1.0 / (2.0 * h * h))
    ks, ka, kb = np_log_kernel(x, y, inv_two_h2), np_log_kernel(x, x, inv_two_h2), np_log_kernel(y, y, inv_two_h2)
    ls, la, lb = np_logsumexp(ks), np_logsumexp(ka), np_logsumexp(kb)
    value = 0.5 * la + 0.5 * lb - ls
    if not grad:
        return value, None, None
    inv_h2 = x.dtype.type(1.0 / (h * h))
    ps, pa, pb = np.exp(ks - ls), np.exp(ka - la), np.exp(kb - lb)
    # d log A / dx_i = -(2/h^2) sum_j P_A,ij (x_i - x_j); d log S / dx_i = -(1/h^2) sum_j P_ij (x_i - y_j).
    gx = -inv_h2 * (pa.sum(1)[:, None] * x - pa @ x) + inv_h2 * (ps.sum(1)[:, None] * x - ps @ y)
    gy = -inv_h2 * (pb.sum(1)[:, None] * y - pb @ y) + inv_h2 * (ps.sum(0)[:, None] * y - ps.T @ x)
    return value, gx, gy


# ---------------------------------------------------------------------------------------------- PyTorch

def torch_cs(torch, x, y, h):
    inv_two_h2 = 1.0 / (2.0 * h * h)

    def log_kernel(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return -d2.clamp(min=0.0) * inv_two_h2

    ls = torch.logsumexp(log_kernel(x, y).reshape(-1), 0)
    la = torch.logsumexp(log_kernel(x, x).reshape(-1), 0)
    lb = torch.logsumexp(log_kernel(y, y).reshape(-1), 0)
    return 0.5 * la + 0.5 * lb - ls


def main(args):
    raw = np.fromfile(args.input, dtype=np.float64)
    if raw.size != (args.n + args.m) * args.d:
        raise SystemExit("input has %d numbers, expected %d" % (raw.size, (args.n + args.m) * args.d))
    dtype = np.float64 if args.dtype == "float64" else np.float32
    x = raw[: args.n * args.d].reshape(args.n, args.d).astype(dtype)
    y = raw[args.n * args.d:].reshape(args.m, args.d).astype(dtype)
    h = args.sigma * np.sqrt(2.0)
    grad = args.mode == "grad"
    versions = {"numpy": np.__version__, "python": "%d.%d.%d" % sys.version_info[:3]}

    if args.impl == "numpy":
        def call():
            return np_cs(x, y, h, grad)
    else:
        import torch
        torch.set_num_threads(args.threads)
        versions["torch"] = torch.__version__
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        if grad:
            tx.requires_grad_(True)
            ty.requires_grad_(True)

        def call():
            if not grad:
                with torch.no_grad():
                    return float(torch_cs(torch, tx, ty, h)), None, None
            tx.grad, ty.grad = None, None
            v = torch_cs(torch, tx, ty, h)
            v.backward()
            return float(v), tx.grad.numpy(), ty.grad.numpy()

    call()  # warm-up: allocations, first-touch, lazy initialization
    times = []
    value, gx, gy = None, None, None
    for _ in range(args.repetitions):
        t0 = time.perf_counter()
        value, gx, gy = call()
        times.append((time.perf_counter() - t0) * 1e3)

    out = {"impl": args.impl, "mode": args.mode, "n": args.n, "m": args.m, "d": args.d, "sigma": args.sigma,
           "dtype": args.dtype, "threads": args.threads, "repetitions": args.repetitions,
           "ms_median": statistics.median(times), "ms_all": times, "value": float(value), "versions": versions}
    if grad:
        g = np.concatenate([np.asarray(gx, dtype=np.float64).ravel(), np.asarray(gy, dtype=np.float64).ravel()])
        out["grad_max_abs"] = float(np.abs(g).max())
        if args.grad_out:
            g.tofile(args.grad_out)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
