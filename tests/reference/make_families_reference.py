#!/usr/bin/python3
"""Writes tests/reference/families_reference_values.hpp: KL between parametric families.

Run by hand with Debian's Python (python3-torch, python3-mpmath), not by CI:
    /usr/bin/python3 tests/reference/make_families_reference.py
The generated header is committed; tests/parametric/families_test.cpp compares divergence::parametric::kl
with it. Each case holds two values:
- torch: torch.distributions.kl_divergence in float64 (PyTorch 1.13; NaN where it fails or raises);
- exact: the textbook formula (entropy and cross-entropy tables for pairs of different families)
  evaluated with mpmath at 60 digits from the exact binary values of the parameters, so cancellation in
  double (nearly equal or large parameters) does not reach it.
Parameters are in the order of the C++ structs' fields (Gamma: shape, rate; Normal: mean, stddev; ...).
"""

import math
import os

import mpmath as mp
import torch

mp.mp.dps = 60
D = torch.distributions
F64 = torch.float64


def t(x):
    return torch.tensor(x, dtype=F64)


def torch_kl(p, q):
    try:
        v = D.kl_divergence(p, q)
        return float(v.sum()) if v.dim() else float(v)
    except (NotImplementedError, ValueError, RuntimeError):
        return math.nan


M = mp.mpf
INF = mp.inf


def xlogy(x, y):
    return M(0) if x == 0 else x * mp.log(y)


def bern(p, q):
    p, q = M(p), M(q)
    total = M(0)
    for a, b in ((p, q), (1 - p, 1 - q)):
        if a == 0:
            continue
        if b == 0:
            return INF
        total += a * mp.log(a / b)
    return total


def bern_logit(a, b):
    with mp.workdps(800):  # sigmoid(-700) ~ 1e-304: 1 - that needs 800 digits
        return +_bern_logit(a, b)


def _bern_logit(a, b):
    a, b = M(a), M(b)
    sp, sq, sp0, sq0 = 1 / (1 + mp.exp(-a)), 1 / (1 + mp.exp(-b)), 1 / (1 + mp.exp(a)), 1 / (1 + mp.exp(b))
    return sp * (mp.log(sp) - mp.log(sq)) + sp0 * (mp.log(sp0) - mp.log(sq0))


def binomial(n1, p, n2, q):
    if n1 > n2:
        return INF
    if n1 == n2:
        return n1 * bern(p, q)
    p, q = M(p), M(q)
    total = M(0)
    for k in range(int(n1) + 1):
        a = mp.binomial(n1, k) * p ** k * (1 - p) ** (n1 - k)
        b = mp.binomial(n2, k) * q ** k * (1 - q) ** (n2 - k)
        if a > 0:
            total += a * mp.log(a / b)
    return total


def poisson(a, b):
    a, b = M(a), M(b)
    return a * mp.log(a / b) - a + b


def geometric(p1, p2):
    p1, p2 = M(p1), M(p2)
    return mp.log(p1 / p2) + (1 - p1) / p1 * mp.log((1 - p1) / (1 - p2))


def exponential(l1, l2):
    l1, l2 = M(l1), M(l2)
    return mp.log(l1 / l2) + l2 / l1 - 1


def gamma(a1, b1, a2, b2):
    a1, b1, a2, b2 = map(M, (a1, b1, a2, b2))
    return (a1 - a2) * mp.digamma(a1) - mp.loggamma(a1) + mp.loggamma(a2) + a2 * mp.log(b1 / b2) + a1 * (b2 - b1) / b1


def dirichlet(a, b):
    a, b = [M(x) for x in a], [M(x) for x in b]
    a0, b0 = sum(a), sum(b)
    v = mp.loggamma(a0) - mp.loggamma(b0)
    for ak, bk in zip(a, b):
        v += -(mp.loggamma(ak) - mp.loggamma(bk)) + (ak - bk) * (mp.digamma(ak) - mp.digamma(a0))
    return v


def normal(m1, s1, m2, s2):
    m1, s1, m2, s2 = map(M, (m1, s1, m2, s2))
    return mp.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - M(1) / 2


def laplace(m1, b1, m2, b2):
    m1, b1, m2, b2 = map(M, (m1, b1, m2, b2))
    a = abs(m1 - m2)
    return mp.log(b2 / b1) + a / b2 + b1 / b2 * mp.exp(-a / b1) - 1


def uniform(a1, b1, a2, b2):
    if not (a2 <= a1 and b1 <= b2):
        return INF
    return mp.log((M(b2) - M(a2)) / (M(b1) - M(a1)))


# Entropy and expectations of p (the cross-family tables), and -E_p ln q.
def summary(name, x):
    x = [M(v) for v in x]
    if name == "Exponential":
        l, = x
        return dict(negH=mp.log(l) - 1, mean=1 / l, var=1 / l ** 2, elog=-mp.euler - mp.log(l), lo=0, hi=INF)
    if name == "Gamma":
        a, b = x
        return dict(negH=-(a - mp.log(b) + mp.loggamma(a) + (1 - a) * mp.digamma(a)), mean=a / b, var=a / b ** 2,
                    elog=mp.digamma(a) - mp.log(b), lo=0, hi=INF)
    if name == "Beta":
        a, b = x
        n = a + b
        return dict(negH=-(mp.log(mp.beta(a, b)) - (a - 1) * mp.digamma(a) - (b - 1) * mp.digamma(b) + (n - 2) * mp.digamma(n)),
                    mean=a / n, var=a * b / (n ** 2 * (n + 1)), elog=mp.digamma(a) - mp.digamma(n),
                    elog1m=mp.digamma(b) - mp.digamma(n), lo=0, hi=1)
    if name == "Normal":
        m, s = x
        return dict(negH=-mp.log(2 * mp.pi * mp.e * s ** 2) / 2, mean=m, var=s ** 2, lo=-INF, hi=INF, m=m, s=s)
    if name == "Laplace":
        m, b = x
        return dict(negH=-(1 + mp.log(2 * b)), mean=m, var=2 * b ** 2, lo=-INF, hi=INF)
    if name == "Uniform":
        lo, hi = x
        w = hi - lo
        s = dict(negH=-mp.log(w), mean=(lo + hi) / 2, var=w ** 2 / 12, lo=lo, hi=hi)
        if lo >= 0:
            s["elog"] = (xlogy(hi, hi) - xlogy(lo, lo)) / w - 1
        if hi <= 1:
            s["elog1m"] = (xlogy(1 - lo, 1 - lo) - xlogy(1 - hi, 1 - hi)) / w - 1
        return s
    raise ValueError(name)


def cross_entropy(name, y, s):
    y = [M(v) for v in y]
    if name == "Exponential":
        l, = y
        return INF if s["lo"] < 0 else -mp.log(l) + l * s["mean"]
    if name == "Gamma":
        k, b = y
        return INF if s["lo"] < 0 else mp.loggamma(k) - k * mp.log(b) - (k - 1) * s["elog"] + b * s["mean"]
    if name == "Beta":
        a, b = y
        if s["lo"] < 0 or s["hi"] > 1:
            return INF
        return mp.log(mp.beta(a, b)) - (a - 1) * s["elog"] - (b - 1) * s["elog1m"]
    if name == "Normal":
        m, sd = y
        return mp.log(2 * mp.pi * sd ** 2) / 2 + (s["var"] + (s["mean"] - m) ** 2) / (2 * sd ** 2)
    if name == "Uniform":
        lo, hi = y
        return mp.log(hi - lo) if lo <= s["lo"] and s["hi"] <= hi else INF
    raise ValueError(name)


def abs_deviation(name, x, m):
    x, m = [M(v) for v in x], M(m)
    if name == "Normal":
        mu, s = x
        d = mu - m
        return s * mp.sqrt(2 / mp.pi) * mp.exp(-d ** 2 / (2 * s ** 2)) + d * mp.erf(d / (s * mp.sqrt(2)))
    if name == "Exponential":
        l, = x
        return 1 / l - m if m <= 0 else m - 1 / l + 2 * mp.exp(-l * m) / l
    if name == "Uniform":
        a, b = x
        if a <= m <= b:
            return ((m - a) ** 2 + (b - m) ** 2) / (2 * (b - a))
        return abs((a + b) / 2 - m)
    raise ValueError(name)


def cross(pn, x, qn, y):
    if qn == "Laplace":
        s = summary(pn, x)
        return s["negH"] + mp.log(2 * M(y[1])) + abs_deviation(pn, x, y[0]) / M(y[1])
    if pn == "Poisson" and qn in ("Bernoulli", "Binomial"):
        return INF  # Poisson puts mass above any bound
    if pn == "Bernoulli" and qn == "Poisson":
        r, l = M(x[0]), M(y[0])
        return xlogy(r, r) + xlogy(1 - r, 1 - r) + l - r * mp.log(l)
    s = summary(pn, x)
    ce = cross_entropy(qn, y, s)
    return INF if ce == INF else s["negH"] + ce


def torch_dist(name, x):
    if name == "Bernoulli":
        return D.Bernoulli(probs=t(x[0]))
    if name == "BernoulliLogit":
        return D.Bernoulli(logits=t(x[0]))
    if name == "Binomial":
        return D.Binomial(total_count=t(x[0]), probs=t(x[1]))
    if name == "Poisson":
        return D.Poisson(t(x[0]))
    if name == "Geometric":
        return D.Geometric(probs=t(x[0]))
    if name == "Exponential":
        return D.Exponential(t(x[0]))
    if name == "Gamma":
        return D.Gamma(t(x[0]), t(x[1]))
    if name == "Beta":
        return D.Beta(t(x[0]), t(x[1]))
    if name == "Dirichlet":
        return D.Dirichlet(t(list(x)))
    if name == "Normal":
        return D.Normal(t(x[0]), t(x[1]))
    if name == "LogNormal":
        return D.LogNormal(t(x[0]), t(x[1]))
    if name == "Laplace":
        return D.Laplace(t(x[0]), t(x[1]))
    if name == "Uniform":
        return D.Uniform(t(x[0]), t(x[1]))
    raise ValueError(name)


SAME = {
    "Bernoulli": lambda x, y: bern(x[0], y[0]),
    "BernoulliLogit": lambda x, y: bern_logit(x[0], y[0]),
    "Binomial": lambda x, y: binomial(x[0], x[1], y[0], y[1]),
    "Poisson": lambda x, y: poisson(x[0], y[0]),
    "Geometric": lambda x, y: geometric(x[0], y[0]),
    "Exponential": lambda x, y: exponential(x[0], y[0]),
    "Gamma": lambda x, y: gamma(*x, *y),
    "Beta": lambda x, y: dirichlet(x, y),
    "Dirichlet": lambda x, y: dirichlet(x, y),
    "Normal": lambda x, y: normal(*x, *y),
    "LogNormal": lambda x, y: normal(*x, *y),
    "Laplace": lambda x, y: laplace(*x, *y),
    "Uniform": lambda x, y: uniform(*x, *y),
}

# (p family, q family, [(p parameters, q parameters), ...]); extreme but valid parameters included.
PAIRS = [
    ("Bernoulli", "Bernoulli", [([0.3], [0.6]), ([0.0], [0.5]), ([1.0], [0.3]), ([0.5], [0.0]), ([1e-12], [1e-6]),
                                ([0.5], [0.5000001]), ([0.999999], [0.9])]),
    ("BernoulliLogit", "BernoulliLogit", [([1.0], [-2.0]), ([30.0], [30.000001]), ([-40.0], [40.0]), ([500.0], [-500.0]),
                                          ([0.25], [0.25000000001]), ([-700.0], [-690.0])]),
    ("Binomial", "Binomial", [([5.0, 0.3], [5.0, 0.6]), ([100.0, 1e-3], [100.0, 0.5]), ([7.0, 0.5], [3.0, 0.5]), ([3.0, 0.4], [7.0, 0.2]), ([0.0, 0.4], [4.0, 0.2]),
                              ([1000.0, 0.25], [1000.0, 0.2500001])]),
    ("Poisson", "Poisson", [([3.0], [1.5]), ([1e-8], [1.0]), ([1e12], [1.000000001e12]), ([40.0], [1e-3]), ([2.5], [2.5000000001])]),
    ("Geometric", "Geometric", [([0.3], [0.7]), ([0.999], [0.5]), ([1e-6], [2e-6]), ([0.5], [0.5000000001])]),
    ("Exponential", "Exponential", [([2.0], [0.5]), ([1.0], [1.000000000001]), ([1e-100], [1e100]), ([1e100], [1e-100])]),
    ("Gamma", "Gamma", [([2.0, 3.0], [4.0, 1.0]), ([0.5, 1.0], [0.7, 2.0]), ([1e-3, 2.0], [5.0, 1e-2]),
                        ([1e6, 1e6], [1.0001e6, 1e6]), ([50.0, 2.0], [50.0, 2.0000001]), ([1e8, 1.0], [1.01e8, 1.01]),
                        ([1e10, 3.0], [1.00000001e10, 3.0]), ([20.0, 0.5], [20.2, 0.505]), ([1e12, 1e12], [1.000001e12, 1.000001e12])]),
    ("Beta", "Beta", [([2.0, 3.0], [4.0, 1.0]), ([0.1, 0.2], [3.0, 0.5]), ([1e6, 2e6], [1.001e6, 2e6]),
                      ([1e4, 1e4], [10001.0, 1e4]), ([1e-3, 1e-3], [1.0, 1.0]), ([1e9, 3e9], [1.0000001e9, 3e9]),
                      ([1e6, 2e6], [1.01e6, 2.02e6]), ([30.0, 12.0], [30.3, 12.12])]),
    ("Dirichlet", "Dirichlet", [([1.0, 2.0, 3.0], [3.0, 0.5, 2.0]), ([0.05, 0.2, 0.1, 4.0], [1.0, 1.0, 1.0, 1.0]),
                                ([1e5, 2e5, 3e5, 4e5, 5e5], [1.0001e5, 2e5, 3e5, 4e5, 5e5]), ([2.5], [0.5]), ([1e4, 2e4, 3e4], [1.001e4, 2.002e4, 3.003e4])]),
    ("Normal", "Normal", [([0.0, 1.0], [1.0, 2.0]), ([1e3, 1e-3], [1000.000001, 0.001000000001]), ([0.0, 1e-150], [0.0, 1e150]),
                          ([-3.0, 2.0], [5.0, 0.25]), ([1.0, 1.0], [1.0, 1.00000001])]),
    ("LogNormal", "LogNormal", [([0.0, 1.0], [1.0, 2.0]), ([2.0, 0.5], [2.0, 0.5000001])]),
    ("Laplace", "Laplace", [([0.0, 1.0], [1.0, 2.0]), ([0.0, 1.0], [0.0, 1.0000000001]), ([5.0, 1e-3], [-5.0, 1e3]),
                            ([0.0, 1.0], [100.0, 1.0]), ([1.0, 2.0], [1.000001, 2.0])]),
    ("Uniform", "Uniform", [([0.0, 1.0], [-1.0, 2.0]), ([0.0, 1.0], [0.5, 2.0]), ([0.0, 1.0], [0.0, 1.0]),
                            ([1.0, 1.000000001], [0.0, 2.0]), ([-1.0, 1.0], [-1.0, 1.0000001])]),
    # Pairs of different families (PyTorch registers these).
    ("Bernoulli", "Poisson", [([0.3], [2.0]), ([0.0], [0.5]), ([1.0], [1e-3]), ([0.999], [1.0])]),
    ("Beta", "Exponential", [([2.0, 3.0], [1.5]), ([0.1, 0.3], [1e-3])]),
    ("Beta", "Gamma", [([2.0, 3.0], [2.0, 1.5]), ([0.5, 0.5], [0.3, 4.0]), ([100.0, 300.0], [25.0, 100.0])]),
    ("Beta", "Normal", [([2.0, 3.0], [0.5, 0.2]), ([0.2, 5.0], [-1.0, 3.0])]),
    ("Beta", "Uniform", [([2.0, 3.0], [0.0, 1.0]), ([2.0, 3.0], [-1.0, 4.0]), ([2.0, 3.0], [0.1, 1.0])]),
    ("Exponential", "Gamma", [([2.0], [3.0, 1.0]), ([1e-3], [0.5, 1e-2]), ([1.0], [1.0, 1.0])]),
    ("Exponential", "Normal", [([2.0], [0.0, 1.0]), ([0.1], [10.0, 5.0])]),
    ("Gamma", "Exponential", [([2.0, 3.0], [1.0]), ([1.0, 2.0], [2.0]), ([0.1, 10.0], [50.0])]),
    ("Gamma", "Normal", [([2.0, 3.0], [1.0, 0.5]), ([50.0, 5.0], [10.0, 1.4])]),
    ("Laplace", "Normal", [([0.0, 1.0], [0.5, 2.0]), ([3.0, 0.1], [-2.0, 10.0])]),
    ("Normal", "Laplace", [([0.0, 1.0], [1.0, 2.0]), ([3.0, 0.5], [3.0, 0.5]), ([-20.0, 0.1], [20.0, 1.0])]),
    ("Uniform", "Beta", [([0.0, 1.0], [2.0, 3.0]), ([0.1, 0.9], [0.5, 0.5]), ([0.2, 0.3], [4.0, 7.0]), ([-0.5, 0.5], [1.0, 1.0])]),
    ("Uniform", "Exponential", [([0.0, 2.0], [1.5]), ([1.0, 3.0], [0.2]), ([-1.0, 1.0], [1.0])]),
    ("Uniform", "Gamma", [([0.0, 2.0], [2.0, 1.0]), ([1.0, 3.0], [0.5, 0.2]), ([-1.0, 1.0], [1.0, 1.0])]),
    ("Uniform", "Normal", [([0.0, 1.0], [0.0, 1.0]), ([-3.0, 5.0], [10.0, 0.5])]),
    # +inf by support (PyTorch gives +inf too).
    ("Normal", "Exponential", [([0.0, 1.0], [1.0])]),
    ("Normal", "Gamma", [([0.0, 1.0], [2.0, 1.0])]),
    ("Normal", "Beta", [([0.5, 0.1], [2.0, 2.0])]),
    ("Normal", "Uniform", [([0.0, 1.0], [-100.0, 100.0])]),
    ("Laplace", "Exponential", [([0.0, 1.0], [1.0])]),
    ("Laplace", "Gamma", [([5.0, 1.0], [2.0, 1.0])]),
    ("Laplace", "Beta", [([0.5, 0.1], [2.0, 2.0])]),
    ("Laplace", "Uniform", [([0.0, 1.0], [-100.0, 100.0])]),
    ("Exponential", "Beta", [([1.0], [2.0, 2.0])]),
    ("Exponential", "Uniform", [([1.0], [0.0, 100.0])]),
    ("Gamma", "Beta", [([2.0, 3.0], [2.0, 2.0])]),
    ("Gamma", "Uniform", [([2.0, 3.0], [0.0, 100.0])]),
    ("Poisson", "Bernoulli", [([2.0], [0.5])]),
    ("Poisson", "Binomial", [([2.0], [10.0, 0.5])]),
]


def literal(v):
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if v == math.inf or v == INF:
        return "inf"
    return repr(float(v))


def main():
    out = []
    out.append("// Generated by tests/reference/make_families_reference.py: do not edit.")
    out.append(f"// PyTorch {torch.__version__}, mpmath {mp.__version__} at {mp.mp.dps} digits; literals printed with repr (exact round trip).")
    out.append("#ifndef DIVERGENCE_TESTS_REFERENCE_FAMILIES_REFERENCE_VALUES_HPP")
    out.append("#define DIVERGENCE_TESTS_REFERENCE_FAMILIES_REFERENCE_VALUES_HPP")
    out.append("")
    out.append("#include <limits>")
    out.append("#include <vector>")
    out.append("")
    out.append("namespace families_reference_values {")
    out.append("")
    out.append("constexpr double inf = std::numeric_limits<double>::infinity();")
    out.append("constexpr double nan = std::numeric_limits<double>::quiet_NaN();")
    out.append("")
    out.append("/// KL(p || q): p and q parameters in the order of the C++ structs' fields.")
    out.append("struct Case {")
    out.append("    std::vector<double> p, q;")
    out.append("    double torch;  ///< torch.distributions.kl_divergence, float64 (nan: PyTorch fails or raises)")
    out.append("    double exact;  ///< the textbook formula in mpmath at 60 digits, rounded to double")
    out.append("};")
    out.append("")
    out.append("struct Pair {")
    out.append("    const char* p;")
    out.append("    const char* q;")
    out.append("    std::vector<Case> cases;")
    out.append("};")
    out.append("")
    out.append("inline const std::vector<Pair> pairs = {")
    for pn, qn, cases in PAIRS:
        out.append(f'    {{"{pn}", "{qn}", {{')
        for x, y in cases:
            exact = SAME[pn](x, y) if pn == qn else cross(pn, x, qn, y)
            tv = torch_kl(torch_dist(pn, x), torch_dist(qn, y))
            ps = ", ".join(literal(float(v)) for v in x)
            qs = ", ".join(literal(float(v)) for v in y)
            ev = "inf" if exact == INF else repr(float(exact))
            out.append(f"        {{{{{ps}}}, {{{qs}}}, {literal(tv)}, {ev}}},")
        out.append("    }},")
    out.append("};")
    out.append("")
    out.append("}  // namespace families_reference_values")
    out.append("")
    out.append("#endif")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "families_reference_values.hpp")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
