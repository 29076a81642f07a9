#!/usr/bin/python3
"""Runs the kernel benchmarks (kernel/cs/...) several times and writes bench/results/kernel.md and kernel.json.

    bench/kernel/report.py --binary build/bench/bench/divergence_bench            # 3 invocations, all of kernel/cs/
    bench/kernel/report.py --binary ... --invocations 1 --filter '^kernel/cs/.*/n:1000/'
    bench/kernel/report.py --from-json bench/results/kernel.json                  # rewrite kernel.md only
    bench/kernel/report.py --binary build/bench-avx2/... --filter '^kernel/cs/ours/|^kernel/exp' \
        --json-name kernel_avx2.json --peers-from bench/results/kernel.json         # another build, peers of a run
    bench/kernel/report.py --from-json bench/results/kernel.json bench/results/kernel_avx2.json  # one section each

Each invocation runs the binary once with --benchmark_filter (default ^kernel/) and a JSON output; every benchmark
runs once per invocation and reports the median of 3 calls (bench/kernel/cauchy_schwarz_bench.cpp). The report
takes, for each benchmark, the median over the invocations of that time, and gives the ratios NumPy / ours and
PyTorch / ours (> 1: ours is faster). A benchmark skipped or failed in any invocation is listed as an error.
The machine line names the CPU and its AVX-512 extensions (/proc/cpuinfo), the load average at start and end.
Notes (a list of paragraphs under "info" -> "notes" in the JSON, added by hand) are printed before the table.

Exp roofline: kernel/exp_roofline/<float|double> measures the throughput of the SIMD layer's exp in the same run
(counter exp_per_second), and each row of ours reports the exponentials one call takes (exps_per_call); the
roofline time is exps_per_call / exp_per_second (float lanes for float32 rows, double lanes for float64), and the
table gives it as a percentage of ours' time (100 %: the exponentials alone, at full throughput, take all of it).
With --peers-from, a run that timed ours only (another build of the same code on the same machine) takes the
NumPy and PyTorch times of the given JSON (their median over its invocations); the ratios are then those medians'
ratios.
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXP = re.compile(r"^kernel/exp_roofline/(?P<lanes>float|double)/")
NAME = re.compile(r"^kernel/cs/(?P<impl>ours|numpy|torch)/(?P<mode>value|grad)/(?P<dtype>float64|float32)/"
                  r"n:(?P<n>\d+)/d:(?P<d>\d+)/threads:(?P<threads>\d+)")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", default=str(ROOT / "build/bench/bench/divergence_bench"))
    p.add_argument("--invocations", type=int, default=3)
    p.add_argument("--filter", default="^kernel/")
    p.add_argument("--out-dir", default=str(ROOT / "bench/results"))
    p.add_argument("--from-json", nargs="+", default=None)
    p.add_argument("--json-name", default="kernel.json")
    p.add_argument("--peers-from", default=None)
    return p.parse_args()


def machine():
    flags, model = set(), "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags |= {f for f in line.split(":", 1)[1].split() if f.startswith("avx512")}
    avx2 = "avx2"
    return {"cpu_model": model, "cpus": os.cpu_count(), "avx512": sorted(flags),
            "instruction_set": "AVX-512 (" + " ".join(sorted(flags)) + ")" if flags else avx2}


def load():
    return ", ".join("%.2f" % v for v in os.getloadavg())


def run(args):
    runs, started = [], time.strftime("%Y-%m-%dT%H:%M:%S%z")
    info = {"command": shlex.join(["bench/kernel/report.py"] + sys.argv[1:]), "started": started,
            "load_start": load(), "machine": machine(), "invocations": args.invocations}
    for k in range(args.invocations):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = tmp.name
        cmd = [args.binary, "--benchmark_filter=" + args.filter, "--benchmark_out_format=json", "--benchmark_out=" + out]
        print("invocation %d/%d: %s" % (k + 1, args.invocations, shlex.join(cmd)), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
        with open(out) as fh:
            runs.append(json.load(fh))
        os.unlink(out)
    info["load_end"] = load()
    info["bench_command"] = shlex.join([args.binary, "--benchmark_filter=" + args.filter]) + ", %d times" % args.invocations
    if args.peers_from:
        info["peers_from"] = os.path.relpath(args.peers_from, ROOT)
    return {"info": info, "runs": runs}


def fmt(x):
    if x is None:
        return "-"
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.3g" % x


def collect(data):
    """Times (per key, one per invocation), errors, peer labels, check gaps and exp rates of one run."""
    times, errors, labels, gaps, exps, rates = {}, {}, {}, {}, {}, {}
    for run in data["runs"]:
        for b in run["benchmarks"]:
            r = EXP.match(b["name"])
            if r:
                rates.setdefault(r["lanes"], []).append(b["exp_per_second"])
                continue
            if b["name"].startswith("roofline/exp/threads:1") and "best_rate" in b:
                rates.setdefault("roofline_bench_float", []).append(b["best_rate"])
                continue
            m = NAME.match(b["name"])
            if not m:
                continue
            key = (m["n"], m["d"], m["dtype"], m["mode"], m["impl"])
            if b.get("error_occurred"):
                errors[key] = b.get("error_message", "error")
                continue
            times.setdefault(key, []).append(b["real_time"] if b.get("time_unit") == "ms" else b["real_time"] * 1e-6)
            if "label" in b:
                labels[m["impl"]] = b["label"]
            if "value_gap" in b:
                gaps[key] = (b["value_gap"], b["grad_gap"])
            if "exps_per_call" in b:
                exps[key] = b["exps_per_call"]
    return times, errors, labels, gaps, exps, {k: max(v) for k, v in rates.items()}


def section(data, peers=None):
    info, runs = data["info"], data["runs"]
    times, errors, labels, gaps, exps, rates = collect(data)
    if peers:
        # peers of another run (same machine, same drivers): their medians stand in for this run's
        p_times, _, p_labels, _, _, _ = collect(peers)
        for k, v in p_times.items():
            if k[4] != "ours" and k not in times:
                times[k] = [statistics.median(v)] * len(times.get(k[:4] + ("ours",), [0]))
        labels = {**p_labels, **labels}
    ctx = runs[0]["context"] if runs else {}
    med = {k: statistics.median(v) for k, v in times.items() if k not in errors}
    mach = info["machine"]
    lines = ["## Built for %s" % ctx.get("instruction_set", "?"), ""]
    lines.append("Command: `%s` (runs `%s`)." % (info["command"], info["bench_command"]))
    lines.append("")
    lines.append("Machine: %s, %s CPUs, instruction set %s; code built for %s; %s, %s, flags `%s`. Peers: %s. "
                 "Run %s, load average at start %s, at end %s (a shared machine: other builds and runs were going on)."
                 % (mach["cpu_model"], mach["cpus"], mach["instruction_set"], ctx.get("instruction_set", "?"),
                    ctx.get("build_compiler", "?"), ctx.get("build_type", "?"), ctx.get("build_flags", "?"),
                    labels.get("torch", "?"), info["started"], info["load_start"], info["load_end"]))
    lines.append("")
    if "peers_from" in info:
        lines.append("NumPy and PyTorch times: those of `%s` (the same machine; this run timed ours only, after "
                     "checking its results against both peers); ratios against their medians." % info["peers_from"])
        lines.append("")
    rate_text = ", ".join("%s %.2f Gexp/s" % (k.replace("_", " "), v / 1e9) for k, v in sorted(rates.items()))
    lines.append("Exp throughput of the SIMD layer, one thread, best of the run: %s." % (rate_text or "not measured"))
    lines.append("")
    for note in info.get("notes", []):
        lines.append(note)
        lines.append("")
    lines.append("| n | d | dtype | mode | ours ms | NumPy ms | PyTorch ms | NumPy / ours | PyTorch / ours | "
                 "ours Gpairs/s | exps per call (10^6) | exp roofline ms | % of exp roofline | "
                 "ours ms, each invocation | gaps (value, gradient) vs NumPy; vs PyTorch |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted({k[:4] for k in list(times) + list(errors)}, key=lambda k: (int(k[0]), int(k[1]), k[2] != "float64", k[3] != "value"))
    for n, d, dtype, mode in keys:
        row = [med.get((n, d, dtype, mode, impl)) for impl in ("ours", "numpy", "torch")]
        ours = row[0]
        # Ratios within each invocation (the three implementations ran back to back, under the same load), then
        # their median: steadier on a shared machine than the ratio of the medians.
        ratio = []
        for impl in ("numpy", "torch"):
            mine, theirs = times.get((n, d, dtype, mode, "ours"), []), times.get((n, d, dtype, mode, impl), [])
            both = [t / o for o, t in zip(mine, theirs)] if len(mine) == len(theirs) and mine else []
            ratio.append(fmt(statistics.median(both)) + "×" if both else "-")
        gp = []
        for impl in ("numpy", "torch"):
            g = gaps.get((n, d, dtype, mode, impl))
            gp.append("%.1e, %.1e" % g if g else "-")
        err = [errors.get((n, d, dtype, mode, impl)) for impl in ("ours", "numpy", "torch")]
        gap_text = "; ".join(gp) + ("".join(" error: " + e for e in err if e))
        pairs = 3.0 * int(n) * int(n) / (ours * 1e-3) / 1e9 if ours else None
        count = exps.get((n, d, dtype, mode, "ours"))
        rate = rates.get("float" if dtype == "float32" else "double")
        roof = 1e3 * count / rate if count and rate else None
        pct = "%.0f %%" % (100.0 * roof / ours) if roof and ours else "-"
        each = ", ".join(fmt(t) for t in times.get((n, d, dtype, mode, "ours"), []))
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            n, d, dtype, mode, fmt(row[0]), fmt(row[1]), fmt(row[2]), ratio[0], ratio[1], fmt(pairs),
            fmt(count / 1e6) if count else "-", fmt(roof), pct, each, gap_text))
    lines.append("")
    return lines


def report(datas, out_dir, peers=None):
    info = datas[0]["info"]
    lines = ["# Kernel estimators: the Parzen Cauchy-Schwarz divergence, this library against NumPy and PyTorch", ""]
    lines.append("Problem: X (n x d) ~ N(0, I), Y (n x d) ~ N(0.5, I) (std::mt19937_64 seed 1, the same points for "
                 "every implementation, float32: rounded), Parzen width sigma = sqrt(d) (kernel width sigma sqrt(2)), "
                 "D = (1/2) log A + (1/2) log B - log S with every sum a log-sum-exp. Ours: `kernel::cauchy_schwarz(x, y, "
                 "{Bandwidth::fixed(sigma), gradients})`; NumPy: the same formula with `logsumexp` by max-shift and the "
                 "gradient written out; PyTorch: `torch.logsumexp` and autograd (bench/kernel/cs_peers.py, run through "
                 "popen in the same process). One thread for all (OpenMP / torch.set_num_threads / OMP_NUM_THREADS). "
                 "Each time is the median of 3 calls after a warm-up inside one invocation, then the median over %d "
                 "invocation(s). Value = D alone; grad = D and its gradients with respect to X and Y. Before timing, the "
                 "three results are compared (value and gradients; tolerance 1e-9 in float64, 2e-3 in float32): the "
                 "largest gaps are in the last column." % info["invocations"])
    lines.append("")
    for note in info.get("report_notes", []):
        lines.append(note)
        lines.append("")
    for data in datas:
        lines += section(data, peers if "peers_from" in data["info"] else None)
    lines.append("Gpairs/s = 3 n^2 kernel evaluations (the sums S, A, B) per second of ours (from the median time). "
                 "Exps per call: the exponentials ours takes (S: n^2, twice with gradients, once per orientation; A and "
                 "B: each unordered pair once, the 32 x 32 diagonal tiles whole); exp roofline ms = exps / the exp "
                 "throughput above (float lanes for float32, double lanes for float64); % of exp roofline = that time "
                 "/ ours' time. Ratios (> 1: ours is faster) are the median over the invocations of each invocation's "
                 "ratio (the three implementations of a row run back to back, under the same load), not the ratio of "
                 "the medians.")
    lines.append("")
    Path(out_dir, "kernel.md").write_text("\n".join(lines) + "\n")
    print("wrote", Path(out_dir, "kernel.md"), file=sys.stderr)


def main():
    args = parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    peers = None
    if args.from_json:
        datas = []
        for name in args.from_json:
            with open(name) as fh:
                datas.append(json.load(fh))
        source = next((d["info"]["peers_from"] for d in datas if "peers_from" in d["info"]), None)
        if source:
            with open(ROOT / source) as fh:
                peers = json.load(fh)
    else:
        data = run(args)
        with open(out_dir / args.json_name, "w") as fh:
            json.dump(data, fh, indent=1)
        datas = [data]
        if args.peers_from:
            with open(args.peers_from) as fh:
                peers = json.load(fh)
    report(datas, out_dir, peers)


if __name__ == "__main__":
    main()
