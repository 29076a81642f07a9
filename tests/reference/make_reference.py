#!/usr/bin/python3
"""Writes tests/reference/reference_values.hpp: reference values from SciPy and PyTorch.

Run by hand with Debian's Python (python3-scipy, python3-torch), not by CI:
    /usr/bin/python3 tests/reference/make_reference.py
The generated header is committed; tests/reference/reference_test.cpp compares the library with it
to 1e-12 relative in double. Every value is computed in float64 and printed with repr (shortest
string that round-trips exactly), so the C++ literals are the very doubles SciPy / PyTorch returned.

Each pair also gets 50-digit values from mpmath (python3-mpmath), exact for the float64 inputs, and
a flag telling whether every SciPy value is within 5e-13 of them: SciPy's textbook sums cancel when
P is very close to Q (case "very_close": about 1e-9 relative error), and the library is held to
SciPy only where SciPy itself is right.
"""

import math
import os

import mpmath
import numpy as np
import scipy
import scipy.special
import scipy.stats
import torch
from scipy.spatial.distance import jensenshannon


def normalized(x):
    x = np.asarray(x, dtype=np.float64)
    return x / x.sum()


# (name, p, q): single distributions, with zeros in p, in q, in both, one-hot rows.
PAIRS = [
    ("dense", normalized([0.1, 0.2, 0.3, 0.4]), normalized([0.25, 0.25, 0.25, 0.25])),
    ("zeros_in_p", normalized([0.0, 0.5, 0.5, 0.0]), normalized([0.1, 0.2, 0.3, 0.4])),
    ("zeros_in_q", normalized([0.1, 0.2, 0.3, 0.4]), normalized([0.0, 0.5, 0.5, 0.0])),
    ("zeros_in_both", normalized([0.5, 0.0, 0.5, 0.0, 0.0]), normalized([0.2, 0.0, 0.7, 0.1, 0.0])),
    ("one_hot_p", normalized([0.0, 0.0, 1.0, 0.0, 0.0]), normalized([0.1, 0.15, 0.2, 0.25, 0.3])),
    ("one_hot_equal", normalized([0.0, 1.0, 0.0]), normalized([0.0, 1.0, 0.0])),
    ("one_hot_disjoint", normalized([1.0, 0.0, 0.0]), normalized([0.0, 0.0, 1.0])),
    ("v7", normalized([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]), normalized([2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0])),
    ("nearly_equal", normalized([0.3, 0.3, 0.4]), normalized([0.3 + 1e-2, 0.3, 0.4 - 1e-2])),
    ("very_close", normalized([0.3, 0.3, 0.4]), normalized([0.3 + 1e-4, 0.3, 0.4 - 1e-4])),
    ("tiny_masses", normalized([1e-12, 1.0 - 1e-12]), normalized([0.5, 0.5])),
    ("small_q_entries", normalized([0.25, 0.25, 0.25, 0.25]), normalized([1e-200, 1e-30, 0.5, 0.5])),
]

# (name, form, temperature, p rows, q rows): batches for torch.nn.functional.kl_div, batchmean.
BATCHES = [
    ("probs_with_zeros_in_p", "probs", 1.0,
     [normalized([0.0, 0.2, 0.3, 0.5]), normalized([0.7, 0.0, 0.0, 0.3]), normalized([0.25, 0.25, 0.25, 0.25])],
     [normalized([0.1, 0.2, 0.3, 0.4]), normalized([0.4, 0.3, 0.2, 0.1]), normalized([0.05, 0.05, 0.45, 0.45])]),
    ("logits", "logits", 1.0,
     [np.array([2.0, 1.0, 0.1, -1.0, 0.5]), np.array([0.5, 0.5, 3.0, 0.0, -2.0]), np.array([-1.0, 4.0, 0.0, 1.5, 1.0])],
     [np.array([1.5, 1.2, 0.0, -0.5, 0.3]), np.array([0.0, 1.0, 2.0, 0.5, -1.0]), np.array([0.2, 2.5, -0.3, 1.0, 0.0])]),
    ("logits_temperature_2", "logits", 2.0,
     [np.array([5.0, -3.0, 0.25, 1.0]), np.array([10.0, 9.5, -4.0, 0.0])],
     [np.array([4.0, -1.0, 0.5, 0.0]), np.array([8.0, 10.0, -2.0, 1.0])]),
]


def lit(x):
    x = float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        raise ValueError("a reference value is NaN")
    return repr(x)


def array_lit(values):
    return "{" + ", ".join(lit(v) for v in values) + "}"


def exact_values(p, q):
    """KL, H(P), H(P, Q) and the JS distance of the float64 inputs, in 50-digit arithmetic."""
    mpmath.mp.dps = 50
    P = [mpmath.mpf(float(x)) for x in p]
    Q = [mpmath.mpf(float(x)) for x in q]
    M = [(a + b) / 2 for a, b in zip(P, Q)]

    def kl(a, b):
        total = mpmath.mpf(0)
        for x, y in zip(a, b):
            if x == 0:
                continue
            if y == 0:
                return mpmath.inf
            total += x * mpmath.log(x / y)
        return total

    entropy = -sum((x * mpmath.log(x) for x in P if x > 0), mpmath.mpf(0))
    cross = kl(P, Q) + entropy
    return {
        "kl": kl(P, Q),
        "entropy": entropy,
        "cross_entropy": cross,
        "js_distance": mpmath.sqrt((kl(P, M) + kl(Q, M)) / 2),
    }


def close(value, exact, rtol=5e-13):
    if mpmath.isinf(exact):
        return math.isinf(value) and value > 0
    return abs(mpmath.mpf(float(value)) - exact) <= rtol * abs(exact)


def pair_values(p, q):
    return {
        "rel_entr": np.sum(scipy.special.rel_entr(p, q)),
        "entropy": scipy.stats.entropy(p),
        "entropy_pq": scipy.stats.entropy(p, q),
        "cross_entropy": -np.sum(scipy.special.xlogy(p, q)),
        "jensenshannon": jensenshannon(p, q),
    }


def batch_values(form, temperature, p_rows, q_rows):
    p = torch.tensor(np.array(p_rows), dtype=torch.float64)
    q = torch.tensor(np.array(q_rows), dtype=torch.float64)
    F = torch.nn.functional
    if form == "probs":
        # input = log q (no zeros in q: torch gives NaN for 0 * log 0 in the input), target = p.
        value = F.kl_div(torch.log(q), p, reduction="batchmean")
        value_log_target = None  # log of the zeros of p would give 0 * (-inf) = NaN in torch
    else:
        log_p = F.log_softmax(p / temperature, dim=-1)
        log_q = F.log_softmax(q / temperature, dim=-1)
        value = F.kl_div(log_q, log_p.exp(), reduction="batchmean")
        value_log_target = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
    return value.item(), (None if value_log_target is None else value_log_target.item())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    out.append("// Generated by tests/reference/make_reference.py: do not edit.")
    out.append("// SciPy %s, PyTorch %s, NumPy %s; float64; literals printed with repr (exact round trip)."
               % (scipy.__version__, torch.__version__, np.__version__))
    out.append("#ifndef DIVERGENCE_TESTS_REFERENCE_REFERENCE_VALUES_HPP")
    out.append("#define DIVERGENCE_TESTS_REFERENCE_REFERENCE_VALUES_HPP")
    out.append("")
    out.append("#include <limits>")
    out.append("#include <vector>")
    out.append("")
    out.append("namespace reference_values {")
    out.append("")
    out.append("constexpr double inf = std::numeric_limits<double>::infinity();")
    out.append("")
    out.append("/// One pair of distributions and what SciPy computes for it.")
    out.append("struct PairCase {")
    out.append("    const char* name;")
    out.append("    std::vector<double> p, q;")
    out.append("    double rel_entr;       ///< numpy.sum(scipy.special.rel_entr(p, q))")
    out.append("    double entropy;        ///< scipy.stats.entropy(p)")
    out.append("    double entropy_pq;     ///< scipy.stats.entropy(p, q) (= KL(P || Q))")
    out.append("    double cross_entropy;  ///< -numpy.sum(scipy.special.xlogy(p, q))")
    out.append("    double jensenshannon;  ///< scipy.spatial.distance.jensenshannon(p, q) (natural log)")
    out.append("    bool scipy_accurate;   ///< every SciPy value above is within 5e-13 relative of the exact one")
    out.append("    double exact_kl, exact_entropy, exact_cross_entropy, exact_js_distance;  ///< mpmath, 50 digits")
    out.append("};")
    out.append("")
    out.append("/// A batch (row-major, rows x cols) and torch.nn.functional.kl_div(reduction=\"batchmean\").")
    out.append("struct BatchCase {")
    out.append("    const char* name;")
    out.append("    bool logits;         ///< rows are logits (softmax(x / temperature)), else probabilities")
    out.append("    double temperature;")
    out.append("    int rows, cols;")
    out.append("    std::vector<double> p, q;")
    out.append("    double batchmean;             ///< kl_div(input = log q, target = p)")
    out.append("    bool has_log_target;")
    out.append("    double batchmean_log_target;  ///< kl_div(input = log q, target = log p, log_target=True)")
    out.append("};")
    out.append("")
    out.append("inline const std::vector<PairCase> pairs = {")
    for name, p, q in PAIRS:
        v = pair_values(p, q)
        e = exact_values(p, q)
        accurate = (close(v["rel_entr"], e["kl"]) and close(v["entropy_pq"], e["kl"])
                    and close(v["entropy"], e["entropy"]) and close(v["cross_entropy"], e["cross_entropy"])
                    and close(v["jensenshannon"], e["js_distance"]))
        out.append("    {\"%s\",\n     %s,\n     %s,\n     %s, %s, %s, %s, %s,\n     %s, %s, %s, %s, %s},"
                   % (name, array_lit(p), array_lit(q), lit(v["rel_entr"]), lit(v["entropy"]),
                      lit(v["entropy_pq"]), lit(v["cross_entropy"]), lit(v["jensenshannon"]),
                      "true" if accurate else "false", lit(e["kl"]), lit(e["entropy"]),
                      lit(e["cross_entropy"]), lit(e["js_distance"])))
    out.append("};")
    out.append("")
    out.append("inline const std::vector<BatchCase> batches = {")
    for name, form, temperature, p_rows, q_rows in BATCHES:
        value, value_log = batch_values(form, temperature, p_rows, q_rows)
        rows, cols = len(p_rows), len(p_rows[0])
        out.append("    {\"%s\", %s, %s, %d, %d,\n     %s,\n     %s,\n     %s, %s, %s},"
                   % (name, "true" if form == "logits" else "false", lit(temperature), rows, cols,
                      array_lit(np.concatenate(p_rows)), array_lit(np.concatenate(q_rows)), lit(value),
                      "true" if value_log is not None else "false", lit(value_log if value_log is not None else 0.0)))
    out.append("};")
    out.append("")
    out.append("}  // namespace reference_values")
    out.append("")
    out.append("#endif")
    with open(os.path.join(here, "reference_values.hpp"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
