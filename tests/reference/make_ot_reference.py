#!/usr/bin/python3
"""Writes tests/reference/ot_reference_values.hpp: entropic optimal transport reference values from POT.

Run by hand with Debian's Python (python3-pot 0.8.2, python3-numpy, python3-scipy, python3-mpmath), not by CI:
    /usr/bin/python3 tests/reference/make_ot_reference.py
It prints one summary line per case (POT iterations, marginal errors, the checks below) and rewrites the
header next to this file; the header is committed. Inputs are fixed (numpy default_rng(SEED)), so a rerun with
the same POT / NumPy gives the same file.

Balanced cases (conventions of docs "optimal-transport.md"):
  plan      = ot.sinkhorn(a, b, C, reg=eps, method="sinkhorn_log", numItermax=NUM_ITER_MAX, stopThr=STOP_THR)
              run to tight convergence; a case is kept only if both marginal errors, recomputed here in
              float64 as ||P 1 - a||_1 and ||P^T 1 - b||_1, are below 1e-12 (so the plan is the fixed point
              to double precision, not an iterate).
  linear    = ot.sinkhorn2(..., same settings) = <P, C>; asserted equal to sum(P * C) to 1e-14 relative.
  entropy_form = <P, C> + eps * sum P log P                (POT's reg_type="entropy" objective)
  kl_form      = <P, C> + eps * KL(P || a b^T)             (GeomLoss / OTT form)
              both in float64 from the plan (0 log 0 = 0); kl_form is checked against
              entropy_form - eps (<a, log a> + <b, log b>) to 1e-12 relative, and both against 50-digit
              mpmath sums over the same float64 plan.
  f, g      = KL-form dual potentials, P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps), from POT's log
              scalings (log=True gives log_u, log_v with P_ij = exp(log_u_i - C_ij / eps + log_v_j)):
                  f_i = eps (log_u_i - log a_i),  g_j = eps (log_v_j - log b_j),
              then shifted (f + c, g - c, which leaves P unchanged) so that <a, f> = <b, g>.  For a zero
              weight a_i (log_u_i = log a_i = -inf) f_i is the softmin extension
                  f_i = -eps LSE_j(log b_j + (g_j - C_ij) / eps),
              which is the same formula POT's last update gives for a_i > 0.  Checked: <a, f> + <b, g> equals
              kl_form to 1e-10 relative.

Unbalanced cases:
  plan      = ot.unbalanced.sinkhorn_unbalanced(a, b, C, reg=eps, reg_m=rho, method=..., numItermax, stopThr)
  POT 0.8.2 solves (whatever its docstring says)
      min_P  <C, P> + eps sum P (log P - 1) + rho KL~(P 1 || a) + rho KL~(P^T 1 || b),
      KL~(x || y) = sum x log(x / y) - x + y   (generalized KL, for unnormalized masses),
  which is NOT the GeomLoss / OTT problem <C, P> + eps KL(P || a b^T) + rho KL~(...) (a different plan,
  not a constant shift).  The script checks that POT's plan satisfies the first-order conditions of that
  objective,  log P_ij + C_ij / eps + (rho / eps)(log(r_i / a_i) + log(c_j / b_j)) = 0  with r = P 1,
  c = P^T 1, to 1e-10 (and that the variants with eps sum P log P or the plain KL fail them), then stores
  the plan and that objective's value.
"""

import math
import os
import sys
import warnings

import mpmath
import numpy as np
import ot
import scipy
import scipy.special

SEED = 20240611
NUM_ITER_MAX = 200000
STOP_THR = 1e-15
MARGINAL_TOL = 1e-12

UNBALANCED_NUM_ITER_MAX = 100000
UNBALANCED_STOP_THR = 1e-15
FOC_TOL = 1e-10

mpmath.mp.dps = 50


def normalized(x):
    x = np.asarray(x, dtype=np.float64)
    return x / x.sum()


def make_balanced_inputs():
    """(name, C, a, b, eps, X, Y, comment) tuples; X, Y are None unless the cost comes from points."""
    rng = np.random.default_rng(SEED)
    cases = []

    C = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 1.0], [4.0, 1.0, 0.0]])
    cases.append(("handmade_3x3", C, np.array([0.2, 0.5, 0.3]), np.array([0.5, 0.25, 0.25]), 0.5, None, None,
                  "C_ij = (i - j)^2, weights exact decimals"))

    C = rng.uniform(0.0, 1.0, size=(5, 7))
    a = normalized(rng.uniform(0.2, 1.0, size=5))
    b = normalized(rng.uniform(0.2, 1.0, size=7))
    cases.append(("random_5x7", C, a, b, 0.1, None, None, "C uniform in [0, 1), non-uniform weights"))

    X = rng.uniform(0.0, 1.0, size=(20, 2))
    Y = rng.uniform(0.0, 1.0, size=(30, 2))
    C = ot.dist(X, Y)  # squared Euclidean
    C = C / C.max()
    for eps, label in ((1.0, "1"), (0.1, "0_1"), (0.05, "0_05")):
        cases.append(("points_20x30_eps_" + label, C, np.full(20, 1.0 / 20), np.full(30, 1.0 / 30), eps, X, Y,
                      "points uniform in [0, 1)^2, C_ij = ||x_i - y_j||^2 / max_kl ||x_k - y_l||^2, uniform weights"))

    C = rng.uniform(0.0, 1.0, size=(4, 5))
    a = np.array([0.3, 0.0, 0.45, 0.25])
    b = normalized(rng.uniform(0.2, 1.0, size=5))
    cases.append(("zero_weight_in_a_4x5", C, a, b, 0.2, None, None,
                  "a_1 = 0: POT warns divide by zero in log (log u_1 = -inf) but its plan is finite, row 1 = 0; "
                  "f_1 = softmin extension"))

    C = rng.uniform(0.0, 1.0, size=(6, 8))
    C = 50.0 * C / C.max()
    a = normalized(rng.uniform(0.2, 1.0, size=6))
    b = normalized(rng.uniform(0.2, 1.0, size=8))
    cases.append(("wide_cost_6x8", C, a, b, 0.5, None, None,
                  "C in [0, 50] (max exactly 50), C / eps up to 100: plan entries down to ~1e-40"))

    C = rng.uniform(0.0, 1.0, size=(1, 4))
    b = normalized(rng.uniform(0.2, 1.0, size=4))
    cases.append(("one_vs_four", C, np.array([1.0]), b, 0.3, None, None, "n = 1: the plan is b as a row"))
    return cases, (X, Y)


def make_unbalanced_inputs(points):
    rng = np.random.default_rng(SEED + 1)
    cases = []
    C = rng.uniform(0.0, 1.0, size=(5, 6))
    a = normalized(rng.uniform(0.2, 1.0, size=5))
    b = 1.5 * normalized(rng.uniform(0.2, 1.0, size=6))
    cases.append(("unbalanced_5x6_mass_1_vs_1_5", C, a, b, 0.1, 1.0, "sinkhorn",
                  "C uniform in [0, 1), sum a = 1, sum b = 1.5"))
    X, Y = points
    C = ot.dist(X, Y)
    C = C / C.max()
    cases.append(("unbalanced_points_20x30", C, np.full(20, 1.0 / 20), np.full(30, 1.0 / 30), 0.1, 0.5,
                  "sinkhorn_stabilized", "the 20 x 30 point clouds of the balanced cases, uniform weights"))
    return cases


# ----------------------------------------------------------------------------------------------------------------
# float64 and mpmath quantities


def xlogx_sum(P):
    return float(np.sum(scipy.special.xlogy(P, P)))


def entropy_form(P, C, eps):
    return float(np.sum(P * C)) + eps * xlogx_sum(P)


def kl_form_direct(P, C, a, b, eps):
    ab = np.outer(a, b)
    mask = P > 0
    kl = float(np.sum(P[mask] * np.log(P[mask] / ab[mask])))
    return float(np.sum(P * C)) + eps * kl


def mp_forms(P, C, a, b, eps):
    """entropy_form and kl_form of the float64 inputs in 50-digit arithmetic."""
    e = mpmath.mpf(eps)
    lin = mpmath.mpf(0)
    plogp = mpmath.mpf(0)
    kl = mpmath.mpf(0)
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            p = mpmath.mpf(float(P[i, j]))
            lin += p * mpmath.mpf(float(C[i, j]))
            if p > 0:
                plogp += p * mpmath.log(p)
                kl += p * mpmath.log(p / (mpmath.mpf(float(a[i])) * mpmath.mpf(float(b[j]))))
    return lin + e * plogp, lin + e * kl


def rel(x, y):
    return abs(x - y) / max(abs(y), 1e-300)


def mp_rel(x, exact):
    return float(abs(mpmath.mpf(float(x)) - exact) / abs(exact))


# ----------------------------------------------------------------------------------------------------------------
# balanced


def solve_balanced(name, C, a, b, eps):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        P, log = ot.sinkhorn(a, b, C, reg=eps, method="sinkhorn_log", numItermax=NUM_ITER_MAX, stopThr=STOP_THR,
                             log=True)
        linear = ot.sinkhorn2(a, b, C, reg=eps, method="sinkhorn_log", numItermax=NUM_ITER_MAX, stopThr=STOP_THR)
    messages = sorted(set(str(w.message) for w in caught))
    return P, log, float(linear), messages


def balanced_case(name, C, a, b, eps, X, Y, comment):
    P, log, linear, messages = solve_balanced(name, C, a, b, eps)
    if not np.all(np.isfinite(P)):
        return None, "%s: POT's plan is not finite (%s)" % (name, messages)
    err_a = float(np.sum(np.abs(P.sum(axis=1) - a)))
    err_b = float(np.sum(np.abs(P.sum(axis=0) - b)))
    if not (err_a < MARGINAL_TOL and err_b < MARGINAL_TOL):
        return None, "%s: marginal errors %.3g (a), %.3g (b) after %d iterations" % (name, err_a, err_b,
                                                                                     log["niter"])
    lin_direct = float(np.sum(P * C))
    assert abs(linear - lin_direct) <= 1e-14 * max(abs(lin_direct), 1.0), (name, linear, lin_direct)

    ent = entropy_form(P, C, eps)
    kl = kl_form_direct(P, C, a, b, eps)
    kl_via_ent = ent - eps * (float(np.sum(scipy.special.xlogy(a, a))) + float(np.sum(scipy.special.xlogy(b, b))))
    assert rel(kl, kl_via_ent) <= 1e-12, (name, kl, kl_via_ent)
    mp_ent, mp_kl = mp_forms(P, C, a, b, eps)
    mp_err = max(mp_rel(ent, mp_ent), mp_rel(kl, mp_kl))
    assert mp_err <= 1e-12, (name, mp_err)

    log_u = np.asarray(log["log_u"], dtype=np.float64)
    log_v = np.asarray(log["log_v"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = eps * (log_u - np.log(a))
        g = eps * (log_v - np.log(b))
    assert np.all(np.isfinite(g)), (name, "g not finite")
    zero_a = a == 0
    if np.any(zero_a):
        lse = scipy.special.logsumexp(np.log(b)[None, :] + (g[None, :] - C[zero_a, :]) / eps, axis=1)
        f[zero_a] = -eps * lse
    assert np.all(np.isfinite(f)), (name, "f not finite")
    # Consistency of the potentials with the plan (in the log domain, where P > 0).
    with np.errstate(divide="ignore"):
        logP_from_fg = np.log(np.outer(a, b)) + (f[:, None] + g[None, :] - C) / eps
    mask = P > 0
    assert np.max(np.abs(np.log(P[mask]) - logP_from_fg[mask])) <= 1e-9, (name, "f, g do not give the plan")
    shift = (float(np.dot(b, g)) - float(np.dot(a, f))) / (float(a.sum()) + float(b.sum()))
    f = f + shift
    g = g - shift
    dual = float(np.dot(a, f)) + float(np.dot(b, g))
    dual_rel = rel(dual, kl)
    assert dual_rel <= 1e-10, (name, dual, kl)

    info = ("%-28s n=%2d m=%2d eps=%-5g POT niter=%6d  err_a=%.2e err_b=%.2e  |lin-sum(P*C)|=%.1e  "
            "kl rel(ent-based)=%.1e  mpmath rel=%.1e  dual rel=%.1e  warnings=%s"
            % (name, C.shape[0], C.shape[1], eps, log["niter"], err_a, err_b, abs(linear - lin_direct),
               rel(kl, kl_via_ent), mp_err, dual_rel, messages))
    data = "points_%dx%d" % C.shape if X is not None else name
    return dict(name=name, data=data, comment=comment, C=C, a=a, b=b, eps=eps, X=X, Y=Y, plan=P, linear=linear,
                entropy_form=ent, kl_form=kl, f=f, g=g, err_a=err_a, err_b=err_b, niter=int(log["niter"]),
                mp_err=mp_err, dual_rel=dual_rel, warnings=messages), info


# ----------------------------------------------------------------------------------------------------------------
# unbalanced


def gen_kl(x, y):
    return float(np.sum(scipy.special.xlogy(x, x) - scipy.special.xlogy(x, y) - x + y))


def unbalanced_objective(P, C, a, b, eps, rho):
    r = P.sum(axis=1)
    c = P.sum(axis=0)
    return (float(np.sum(P * C)) + eps * (xlogx_sum(P) - float(P.sum()))
            + rho * gen_kl(r, a) + rho * gen_kl(c, b))


def unbalanced_case(name, C, a, b, eps, rho, method, comment):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        P = ot.unbalanced.sinkhorn_unbalanced(a, b, C, reg=eps, reg_m=rho, method=method,
                                              numItermax=UNBALANCED_NUM_ITER_MAX, stopThr=UNBALANCED_STOP_THR)
        linear = float(ot.unbalanced.sinkhorn_unbalanced2(a, b, C, reg=eps, reg_m=rho, method=method,
                                                          numItermax=UNBALANCED_NUM_ITER_MAX,
                                                          stopThr=UNBALANCED_STOP_THR))
    messages = sorted(set(str(w.message) for w in caught))
    if not np.all(np.isfinite(P)) or np.any(P <= 0):
        return None, "%s: POT's plan is not finite and positive (%s)" % (name, messages)
    r = P.sum(axis=1)
    c = P.sum(axis=0)
    base = np.log(P) + C / eps
    scal = (rho / eps) * (np.log(r / a)[:, None] + np.log(c / b)[None, :])
    residual = float(np.max(np.abs(base + scal)))          # eps sum P(log P - 1) + rho KL~ : should be 0
    residual_plogp = float(np.max(np.abs(base + 1.0 + scal)))  # eps sum P log P + rho KL~
    residual_plain_kl = float(np.max(np.abs(base + scal + 2.0 * rho / eps)))  # eps sum P(log P - 1) + rho plain KL
    if residual > FOC_TOL:
        return None, "%s: first-order residual %.3g > %g (%s)" % (name, residual, FOC_TOL, messages)
    assert residual_plogp > 1e3 * FOC_TOL and residual_plain_kl > 1e3 * FOC_TOL
    objective = unbalanced_objective(P, C, a, b, eps, rho)
    # A local check on top of the first-order conditions: multiplicative perturbations of the plan raise it.
    rng = np.random.default_rng(SEED + 2)
    for _ in range(20):
        Z = rng.standard_normal(P.shape)
        for t in (1e-3, -1e-3):
            assert unbalanced_objective(P * np.exp(t * Z), C, a, b, eps, rho) > objective, name
    assert abs(linear - float(np.sum(P * C))) <= 1e-12 * max(abs(linear), 1.0), (name, linear)
    info = ("%-28s n=%2d m=%2d eps=%-5g rho=%-4g %-20s  FOC residual=%.1e (P log P variant %.2g, plain KL "
            "variant %.2g)  mass=%.6f  warnings=%s"
            % (name, C.shape[0], C.shape[1], eps, rho, method, residual, residual_plogp, residual_plain_kl,
               float(P.sum()), messages))
    return dict(name=name, comment=comment, C=C, a=a, b=b, eps=eps, rho=rho, method=method, plan=P,
                objective=objective, linear=linear, residual=residual, warnings=messages), info


# ----------------------------------------------------------------------------------------------------------------
# header


def lit(x):
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("a reference value is not finite")
    return repr(x)


class Arrays:
    """Named constexpr arrays; identical contents share one array."""

    def __init__(self):
        self.lines = []
        self.by_content = {}

    def add(self, name, values):
        values = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
        key = tuple(values)
        if key in self.by_content:
            return self.by_content[key]
        self.by_content[key] = name
        body = []
        row = []
        for v in values:
            row.append(lit(v))
            if len(row) == 4:
                body.append("    " + ", ".join(row) + ",")
                row = []
        if row:
            body.append("    " + ", ".join(row) + ",")
        self.lines.append("inline constexpr double %s[%d] = {" % (name, len(values)))
        self.lines.extend(body)
        self.lines.append("};")
        return name


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_header(path, balanced, unbalanced, dropped):
    arrays = Arrays()
    bal_rows = []
    for k in balanced:
        p = "balanced_" + k["name"] + "_"
        d = k["data"] + "_"  # inputs shared by several cases get one array, named after the data set
        cost = arrays.add(d + "cost", k["C"])
        a = arrays.add(d + "a", k["a"])
        b = arrays.add(d + "b", k["b"])
        plan = arrays.add(p + "plan", k["plan"])
        f = arrays.add(p + "f", k["f"])
        g = arrays.add(p + "g", k["g"])
        if k["X"] is not None:
            dim = k["X"].shape[1]
            x = arrays.add(d + "x", k["X"])
            y = arrays.add(d + "y", k["Y"])
        else:
            dim, x, y = 0, "nullptr", "nullptr"
        bal_rows.append(
            "    // %s\n"
            "    // POT niter %d, ||P1 - a||_1 = %.2e, ||P^T 1 - b||_1 = %.2e; float64 forms vs 50-digit mpmath: %.1e "
            "relative; <a,f> + <b,g> vs kl_form: %.1e relative\n"
            "    BalancedCase{%s, %d, %d, %s,\n"
            "                 detail::%s, detail::%s, detail::%s,\n"
            "                 detail::%s, %s, %s, %s,\n"
            "                 detail::%s, detail::%s, %s, %s, %d,\n"
            "                 %d, %s, %s},"
            % (k["comment"], k["niter"], k["err_a"], k["err_b"], k["mp_err"], k["dual_rel"],
               cstr(k["name"]), k["C"].shape[0], k["C"].shape[1], lit(k["eps"]), cost, a, b, plan,
               lit(k["linear"]), lit(k["entropy_form"]), lit(k["kl_form"]), f, g, lit(k["err_a"]), lit(k["err_b"]),
               k["niter"], dim, x if x == "nullptr" else "detail::" + x, y if y == "nullptr" else "detail::" + y))
    unb_rows = []
    for k in unbalanced:
        p = k["name"] + "_"
        cost = arrays.add(p + "cost", k["C"])
        a = arrays.add(p + "a", k["a"])
        b = arrays.add(p + "b", k["b"])
        plan = arrays.add(p + "plan", k["plan"])
        unb_rows.append(
            "    // %s; first-order residual %.1e\n"
            "    UnbalancedCase{%s, %d, %d, %s, %s, %s,\n"
            "                   detail::%s, detail::%s, detail::%s,\n"
            "                   detail::%s, %s, %s},"
            % (k["comment"], k["residual"], cstr(k["name"]), k["C"].shape[0], k["C"].shape[1], lit(k["eps"]),
               lit(k["rho"]), cstr(k["method"]), cost, a, b, plan, lit(k["objective"]), lit(k["linear"])))

    out = []
    out.append("// Generated by tests/reference/make_ot_reference.py: do not edit.")
    out.append("// POT %s, NumPy %s, SciPy %s, mpmath %s; float64; literals printed with repr (exact round trip)."
               % (ot.__version__, np.__version__, scipy.__version__, mpmath.__version__))
    out.append("// Conventions (see the script's docstring and docs formulas/optimal-transport.md):")
    out.append("//   matrices are row-major n x m; weights a (n), b (m); eps = the entropic regularization.")
    out.append("//   plan: POT ot.sinkhorn(method=\"sinkhorn_log\", numItermax=%d, stopThr=%g) at its fixed point"
               % (NUM_ITER_MAX, STOP_THR))
    out.append("//     (cases kept only with ||P1 - a||_1 and ||P^T 1 - b||_1 below %g, recomputed in float64)."
               % MARGINAL_TOL)
    out.append("//   linear = <P, C> (ot.sinkhorn2); entropy_form = <P, C> + eps sum P log P;")
    out.append("//   kl_form = <P, C> + eps KL(P || a b^T) = entropy_form - eps (<a, log a> + <b, log b>).")
    out.append("//   f, g: KL-form potentials, P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps), f = eps (log_u - log a),")
    out.append("//     g = eps (log_v - log b) from POT's log_u, log_v, shifted (f + c, g - c) so that <a, f> = <b, g>")
    out.append("//     (= kl_form / 2); f_i at a zero a_i is the softmin -eps LSE_j(log b_j + (g_j - C_ij) / eps).")
    out.append("//   Unbalanced: POT ot.unbalanced.sinkhorn_unbalanced solves")
    out.append("//     <C, P> + eps sum P (log P - 1) + rho KL~(P 1 || a) + rho KL~(P^T 1 || b),")
    out.append("//     KL~(x || y) = sum x log(x / y) - x + y  (not the GeomLoss / OTT form eps KL(P || a b^T));")
    out.append("//     objective is that value at POT's plan, linear = <P, C> (sinkhorn_unbalanced2).")
    if dropped:
        out.append("// Cases dropped by the generator:")
        for d in dropped:
            out.append("//   " + d)
    out.append("#ifndef DIVERGENCE_TESTS_REFERENCE_OT_REFERENCE_VALUES_HPP")
    out.append("#define DIVERGENCE_TESTS_REFERENCE_OT_REFERENCE_VALUES_HPP")
    out.append("")
    out.append("#include <array>")
    out.append("#include <cstddef>")
    out.append("")
    out.append("namespace reference::ot {")
    out.append("")
    out.append("/// A balanced entropic OT problem and POT's solution (all pointers to static arrays).")
    out.append("struct BalancedCase {")
    out.append("    const char* name;")
    out.append("    std::size_t n, m;")
    out.append("    double epsilon;")
    out.append("    const double* cost;     ///< n * m, row-major")
    out.append("    const double* a;        ///< n")
    out.append("    const double* b;        ///< m")
    out.append("    const double* plan;     ///< n * m, row-major: ot.sinkhorn(..., method=\"sinkhorn_log\")")
    out.append("    double linear;          ///< <P, C> (ot.sinkhorn2)")
    out.append("    double entropy_form;    ///< <P, C> + eps sum P log P")
    out.append("    double kl_form;         ///< <P, C> + eps KL(P || a b^T) = <a, f> + <b, g>")
    out.append("    const double* f;        ///< n, KL-form potential, shifted so that <a, f> = <b, g>")
    out.append("    const double* g;        ///< m")
    out.append("    double marginal_error_a;  ///< ||P 1 - a||_1 of the stored plan (float64)")
    out.append("    double marginal_error_b;  ///< ||P^T 1 - b||_1")
    out.append("    std::size_t pot_iterations;  ///< POT's log['niter']")
    out.append("    std::size_t dim;        ///< point dimension, 0 when the cost is not from points")
    out.append("    const double* x;        ///< n * dim, row-major, or nullptr; cost = ||x - y||^2 / max, as computed")
    out.append("                            ///< by ot.dist (|x|^2 + |y|^2 - 2 x.y): recomputing it from x, y agrees only")
    out.append("                            ///< to ~1e-15 absolute, so tests should take the stored cost")
    out.append("    const double* y;        ///< m * dim, row-major, or nullptr")
    out.append("};")
    out.append("")
    out.append("/// An unbalanced problem (KL marginal penalties of strength rho) and POT's solution.")
    out.append("struct UnbalancedCase {")
    out.append("    const char* name;")
    out.append("    std::size_t n, m;")
    out.append("    double epsilon;")
    out.append("    double rho;             ///< POT's reg_m")
    out.append("    const char* pot_method; ///< method passed to ot.unbalanced.sinkhorn_unbalanced")
    out.append("    const double* cost;     ///< n * m, row-major")
    out.append("    const double* a;        ///< n (total mass need not be 1)")
    out.append("    const double* b;        ///< m")
    out.append("    const double* plan;     ///< n * m, row-major")
    out.append("    double objective;       ///< <C,P> + eps sum P(log P - 1) + rho KL~(P1||a) + rho KL~(P^T 1||b)")
    out.append("    double linear;          ///< <P, C> (ot.unbalanced.sinkhorn_unbalanced2)")
    out.append("};")
    out.append("")
    out.append("namespace detail {")
    out.append("")
    out.extend(arrays.lines)
    out.append("")
    out.append("}  // namespace detail")
    out.append("")
    out.append("inline constexpr std::array<BalancedCase, %d> balanced_cases = {{" % len(balanced))
    out.extend(bal_rows)
    out.append("}};")
    out.append("")
    out.append("inline constexpr std::array<UnbalancedCase, %d> unbalanced_cases = {{" % len(unbalanced))
    out.extend(unb_rows)
    out.append("}};")
    out.append("")
    out.append("}  // namespace reference::ot")
    out.append("")
    out.append("#endif  // DIVERGENCE_TESTS_REFERENCE_OT_REFERENCE_VALUES_HPP")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    balanced_inputs, points = make_balanced_inputs()
    balanced, unbalanced, dropped = [], [], []
    for args in balanced_inputs:
        case, info = balanced_case(*args)
        print(("DROPPED " if case is None else "") + info)
        if case is None:
            dropped.append(info)
        else:
            balanced.append(case)
    for args in make_unbalanced_inputs(points):
        case, info = unbalanced_case(*args)
        print(("DROPPED " if case is None else "") + info)
        if case is None:
            dropped.append(info)
        else:
            unbalanced.append(case)
    path = os.path.join(here, "ot_reference_values.hpp")
    write_header(path, balanced, unbalanced, dropped)
    print("wrote %s (%d bytes): %d balanced, %d unbalanced, %d dropped"
          % (path, os.path.getsize(path), len(balanced), len(unbalanced), len(dropped)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
