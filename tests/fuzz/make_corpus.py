#!/usr/bin/env python3
"""Writes the seed corpus tests/fuzz/corpus/ for public_api_fuzz.cpp (deterministic).

Each seed is one call in the decoder's layout (see the comment at the top of public_api_fuzz.cpp):
choices are listed in the order the target reads them, then the whole list is reversed, because
FuzzedDataProvider::ConsumeIntegral reads from the end of the input (a 16-bit entry reads its high
byte first). Usage: python3 tests/fuzz/make_corpus.py  (rewrites the directory but for regression_* files).
"""
import os
import random

APIS = ["kl", "reverse_kl", "js", "generalized_js", "js_distance", "f_divergence", "cauchy_schwarz",
        "renyi", "entropy", "cross_entropy", "mutual_information", "density_ratio_weights", "members",
        "named_f_divergence", "top_k_kl"]
BINARY = {"kl", "reverse_kl", "js", "generalized_js", "js_distance", "f_divergence", "cauchy_schwarz",
          "renyi", "cross_entropy", "named_f_divergence", "top_k_kl"}
# Indices into kPalette (param()) and kScales.
P = {"0": 0, "1": 2, "0.5": 4, "2": 5, "0.25": 6, "7": 7, "1e-30": 8, "1e20": 11, "1e4": 13,
     "1e-300": 33, "1e-16": 34, "0.999999": 37, "10": 38, "3": 41, "1e-3": 42, "1e-6": 46}
SCALE = {"1": 0, "10": 2, "1e4": 5, "1e20": 8, "1e30": 9, "3": 14}
FORM = {"probs": 0, "log_probs": 1, "logits": 2, "bare": 3}


class Seed:
    def __init__(self):
        self.bytes = []  # in the order the target consumes them

    def byte(self, v):
        self.bytes.append(v & 0xFF)

    def u16(self, v):
        self.bytes += [(v >> 8) & 0xFF, v & 0xFF]

    def data(self):
        return bytes(reversed(self.bytes))


def write_input(s, rng, rows, cols, form="logits", temperature="2", layout=0, fill=0, scale="3", rate=0):
    s.byte(FORM[form])
    s.byte(P[temperature])
    s.byte(layout)
    s.byte(fill)
    s.byte(SCALE[scale])
    s.byte(rate)
    for _ in range(rows * cols):
        s.u16(rng.randrange(65536))


def seed(rng, api, double=False, generator=0, dual=False, parameter="0.5", rows=3, cols=5, p=None, q=None,
         mask=0, reduction=2, validation=0, row_values=2, grad_p=3, grad_q=3, points=(), k=2, indices=0,
         index_layout=0, tail=True):
    s = Seed()
    s.byte(APIS.index(api))
    s.byte(1 if double else 0)
    s.byte(generator)
    s.byte(1 if dual else 0)
    s.byte(P[parameter])
    if api == "members":
        s.byte(len(points))
        for x in points:
            s.byte(P[x])
        return s.data()
    s.byte(rows)
    s.byte(cols)
    s.byte(0)  # q has p's shape
    if api == "top_k_kl":  # p: the teacher's values (rows x k), q: the student; then the indices
        s.byte(k)
        write_input(s, rng, rows, k, **(p or {}))
        write_input(s, rng, rows, cols, **(q or {}))
        s.byte(indices)
        s.byte(index_layout)
        for _ in range(rows * k):
            s.byte(rng.randrange(256))
        s.byte(0 if tail else 1)
    else:
        write_input(s, rng, rows, cols, **(p or {}))
        if api in BINARY:
            write_input(s, rng, rows, cols, **(q or {}))
    s.byte(mask)
    for _ in range(0, rows, 8):
        s.byte(rng.randrange(256))
    s.byte(reduction)
    s.byte(validation)
    s.byte(P["1"])  # tolerance: the default
    s.byte(row_values)
    s.byte(grad_p)
    s.byte(grad_q)
    return s.data()


# ---------------------------------------------------------------- the decoders of decoders_*.hpp
# Each writes its choices in the order fuzz::Reader reads them (see the comments of each decoder);
# a choice is written as its value (pick(n) reads byte % n).
DECODERS = ["distillation_loss", "alpha_beta_divergence", "token_wise_kl", "kl_penalty", "token_losses",
            "model_comparison", "top_k", "sinkhorn", "sinkhorn_divergence", "wasserstein_1d", "sliced_wasserstein",
            "sinkhorn_distillation", "kernel", "gaussians", "kl_diagonal", "family_kl", "bregman", "projection"]


class Decoded(Seed):
    """Choices of fuzz::Reader (tests/fuzz/fuzz_common.hpp)."""

    def __init__(self, rng, decoder, double):
        super().__init__()
        self.rng = rng
        self.byte(len(APIS) + DECODERS.index(decoder))
        self.byte(1 if double else 0)

    def pick(self, v):
        self.byte(v)

    def one_of(self, index):  # the index-th value of the decoder's list
        self.byte(index)

    def spread(self, scale="3"):
        self.byte(SCALE[scale])
        self.byte(0)  # no specials

    def entries(self, count):
        for _ in range(count):
            self.u16(self.rng.randrange(65536))

    def matrix(self, rows, cols, scale="3"):
        self.spread(scale)
        self.entries(rows * cols)

    def weights(self, size):
        self.pick(1)  # not raw: |entries|
        self.spread("1")
        self.entries(size)

    def form_input(self, rows, cols, form=2):
        self.pick(form)
        self.pick(1)  # temperature 1 + byte % 4
        self.pick(1)
        self.pick(1)  # normalized
        self.matrix(rows, cols)

    def row_options(self, reduction=2, mask=0):
        self.pick(reduction)
        self.pick(1)  # Validation::full
        self.pick(mask)
        if mask in (1, 2):
            self.pick(0b10110111)
        self.pick(0)  # no weights
        self.pick(1)  # default tolerance

    def row_outputs(self, with_p=True, row_values=True):
        self.pick(1 if row_values else 0)
        if with_p:
            self.pick(1)
        self.pick(1)

    def labels(self, rows, cols):
        self.pick(1)  # B labels
        self.pick(0)  # ignore_index -100
        self.pick(1)  # no smoothing
        for _ in range(rows):
            self.pick(1 + self.rng.randrange(8))  # (byte % 8 != 0) then the label
            self.pick(2 + self.rng.randrange(cols))


def decoder_seeds(rng):
    seeds = {}

    def new(decoder, double=False):
        return Decoded(rng, decoder, double)

    for kind in range(8):  # distillation_loss: every distill:: divergence
        for top_k in (False, True):
            if top_k and kind == 7:
                continue
            s = new("distillation_loss", double=kind % 2 == 1)
            s.pick(3)
            s.pick(5)  # B = 3, V = 5
            s.pick(0 if top_k else 1)
            s.pick(kind)
            s.pick(1 if kind == 5 else 0)  # generator: AmariAlpha(a)
            s.one_of(3)  # a = 0.1
            s.one_of(1)  # b = 0.5
            s.pick(kind % 2)  # labels
            s.pick(1)  # T = 1.5
            s.pick(1)
            s.pick(kind % 2)  # scaling
            s.one_of(0)
            s.one_of(kind % 2)  # ce_weight
            s.pick(1)
            s.row_options(mask=1 if kind == 3 else 0)
            s.spread()
            s.entries(15)  # teacher
            s.pick(1)
            s.entries(15)  # student
            if top_k:
                s.pick(3)  # k
                s.pick(1)  # distinct indices
                s.pick(1)
                for _ in range(9):
                    s.pick(rng.randrange(256))
            if kind % 2:
                s.labels(3, 5)
            if kind == 7:
                s.pick(0)  # the entropy rule
            s.row_outputs(with_p=not top_k)
            seeds[f"distillation_{kind}{'_top_k' if top_k else ''}"] = s.data()
    for name in ("alpha_beta_divergence", "token_wise_kl"):
        for form in range(3):
            s = new(name, double=form == 1)
            s.pick(3)
            s.pick(5)
            s.one_of(2)
            s.one_of(2)
            s.pick(form % 2)  # rows variant
            s.form_input(3, 5, form)
            s.pick(1)
            s.form_input(3, 5, 2)
            s.row_options(mask=1 if form == 2 else 0)
            s.row_outputs(row_values=form % 2 == 0)
            seeds[f"{name}_{form}"] = s.data()
    for estimator in range(6):
        s = new("kl_penalty", double=estimator % 2 == 1)
        s.pick(3)
        s.pick(4)
        s.pick(estimator % 4)  # variant
        s.pick(estimator)
        s.pick(estimator % 3)
        s.pick(1)  # no delta clamp
        s.pick(0 if estimator == 2 else 1)
        if estimator == 2:
            s.one_of(0)
        s.pick(estimator % 4)  # mask kind
        s.pick(1)  # full
        s.spread("1")
        s.entries(12)
        s.pick(1)
        s.entries(12)
        s.entries(12)
        if estimator % 4 == 1:
            s.bytes += [1] * 12
        elif estimator % 4 == 2:
            s.matrix(3, 4, "1")
        elif estimator % 4 == 3:
            s.matrix(3, 4, "1")
        s.pick(1)
        s.pick(1)
        seeds[f"kl_penalty_{estimator}"] = s.data()
    for which in range(3):
        s = new("token_losses", double=which == 1)
        s.pick(4)
        s.pick(6)
        s.pick(which)
        s.labels(4, 6)
        s.form_input(4, 6, 2 if which != 2 else 1)
        s.row_options()
        s.pick(1)  # (byte % 8 != 0): no grad_p
        s.row_outputs(with_p=False, row_values=which == 0)
        seeds[f"token_losses_{which}"] = s.data()
    for labelled in (0, 1):
        s = new("model_comparison", double=labelled == 1)
        s.pick(3)  # top_k 2
        s.pick(1)
        s.pick(1)
        s.pick(1)  # two batches
        s.pick(5)  # V
        for _ in range(2):
            s.pick(3)  # B
            s.pick(1)
            s.form_input(3, 5, 2)
            s.pick(1)
            s.form_input(3, 5, 2)
            s.pick(labelled)
            if labelled:
                s.labels(3, 5)
        s.pick(0)
        s.pick(1)  # merge: this one into itself
        s.pick(1)  # through serialize
        s.pick(1)
        s.pick(1)
        seeds[f"model_comparison_{labelled}"] = s.data()
    for which in range(14):
        s = new("top_k", double=which % 2 == 1)
        s.pick(which)
        s.pick(which % 3 == 0)  # rows variant
        s.pick(3)
        s.pick(6)
        s.pick(3)  # k
        s.pick(which % 2)  # values form
        s.spread()
        s.entries(9)
        s.pick(1)  # normalized
        s.bytes += [1, 1, 1]  # each row's total 1
        s.pick(1)  # distinct indices
        for _ in range(9):
            s.pick(rng.randrange(256))
        s.pick(0 if which == 13 else 1)  # tail (which 13: kl without it)
        s.pick(1)
        s.form_input(3, 6, 2)
        s.pick(3)
        s.pick(0)
        s.one_of(0)
        s.row_options()
        s.pick(1)
        s.row_outputs(with_p=False, row_values=which % 3 != 0)
        seeds[f"top_k_{which:02d}"] = s.data()
    for mode in range(5):
        for unbalanced in (False, True):
            s = new("sinkhorn", double=mode % 2 == 0)
            s.pick(mode)
            s.pick(4)
            s.pick(5)
            s.pick(2)  # d
            s.pick(1)
            s.weights(4)
            s.pick(1)
            s.weights(5)
            s.pick(1)  # b rescaled to a's mass
            s.one_of(2)  # epsilon 1
            s.pick(1)
            s.pick(30)  # iterations
            s.one_of(1)  # tolerance 1e-3
            s.pick(0)
            s.pick(mode % 2)
            s.one_of(0)
            s.pick(1)  # no annealing
            s.pick(0 if unbalanced else 1)
            if unbalanced:
                s.one_of(1)
            s.pick(1)
            s.pick(1)  # no warm start
            if mode == 0:
                s.matrix(4, 5, "1")
                s.pick(1)  # |cost|
            else:
                s.matrix(4, 2, "1")
                if mode == 4:
                    s.pick(1)
                s.pick(1)
                s.matrix(5, 2, "1")
                if mode == 4:
                    s.pick(1)
            s.pick(1)  # the implicit gradient
            s.one_of(1)
            s.pick(19)
            s.one_of(0)
            seeds[f"sinkhorn_{mode}{'_unbalanced' if unbalanced else ''}"] = s.data()
    for mode in range(4):
        s = new("sinkhorn_divergence", double=mode % 2 == 1)
        s.pick(mode)
        s.pick(4)
        s.pick(3)
        s.pick(1)  # d = 2
        s.weights(4)
        s.weights(3)
        s.pick(1)
        s.matrix(4, 2, "1")
        if mode == 3:
            s.pick(1)
        s.matrix(3, 2, "1")
        if mode == 3:
            s.pick(1)
        s.one_of(2)
        s.pick(1)
        s.pick(20)
        s.one_of(1)
        s.pick(0)
        s.pick(0)
        s.one_of(0)
        s.pick(1)
        s.pick(1)
        s.pick(1)
        seeds[f"sinkhorn_divergence_{mode}"] = s.data()
    for weighted in (0, 1):
        for p in (0, 2):
            s = new("wasserstein_1d", double=weighted == 1)
            s.pick(5)
            s.pick(4)
            s.pick(weighted)
            s.spread()
            s.entries(9)
            s.pick(1)
            s.weights(5)
            s.weights(4)
            s.one_of(p)
            for _ in range(4):
                s.pick(1)
            seeds[f"wasserstein_1d_{weighted}_{p}"] = s.data()
    for kind in range(3):
        s = new("sliced_wasserstein", double=kind == 1)
        s.pick(4)
        s.pick(5)
        s.pick(2)
        s.pick(kind)
        s.pick(kind % 2)
        s.pick(3)  # count
        s.pick(1)
        s.pick(7)  # seed
        if kind != 2:
            s.spread()
            s.entries(8)
            s.pick(1)
            s.entries(10)
            s.matrix(3, 2)
            s.weights(4)
            s.weights(5)
            s.one_of(1)
            for _ in range(5):
                s.pick(1)
        seeds[f"sliced_wasserstein_{kind}"] = s.data()
    for variant in range(3):
        for cost in range(3):
            if variant == 0 and cost > 0:
                continue
            s = new("sinkhorn_distillation", double=cost == 1)
            s.pick(variant)
            s.pick(4)
            s.pick(5)
            if variant == 0:
                s.one_of(1)
                s.pick(4)  # 3 iterations
                s.pick(0)
                s.pick(0)
                s.pick(1)  # unit sums
                s.matrix(4, 5, "1")
                s.pick(1)
                s.spread("1")
                s.entries(20)
            else:
                s.one_of(0)
                s.pick(cost)
                s.one_of(0)
                s.pick(4)
                s.one_of(1)
                s.pick(0)
                s.pick(1)  # sum
                s.pick(1)
                s.spread()
                s.entries(20)
                s.pick(1)
                s.entries(20)
                if variant == 2:
                    s.pick(2)  # two groups
                    s.pick(1)
                    s.pick(3)
                    s.pick(1)  # sizes add up
                s.pick(1)
                s.pick(1)
                s.pick(1)
            seeds[f"sinkhorn_distillation_{variant}_{cost}"] = s.data()
    for which in range(10):
        s = new("kernel", double=which % 2 == 1)
        s.pick(which)
        s.pick(4)
        s.pick(5)
        s.pick(2)
        s.spread("1")
        paired = which in (2, 3, 8)
        if paired:
            s.pick(1)  # dy = 2
        else:
            s.pick(1)
        s.entries(8)
        if paired:
            s.pick(1)  # y has n rows
        s.entries(8 if paired else 10)
        s.pick(which % 3)  # path
        s.pick(1)  # gradients
        s.pick(which % 2)
        bandwidth = [which % 4, 0, 0, which % 2, 1]  # rule, value 1, median, differentiate, points
        if which in (0, 1, 7):
            s.bytes += bandwidth
        elif which in (2, 3):
            s.bytes += bandwidth + bandwidth
        if which in (0,):
            s.pick(which % 2)  # scale
        if which in (4, 5):
            s.pick(which - 4)
            s.pick(0)
            s.bytes += bandwidth
        if which == 6:
            s.one_of(0)
            s.pick(5)
            s.pick(3)
        if which == 8:
            s.one_of(0)
            s.one_of(1)
            s.pick(0)
            s.pick(1)
            s.entries(8)
            s.pick(1)
            s.pick(1)
            s.pick(1)
        if which == 9:
            s.one_of(0)
        seeds[f"kernel_{which}"] = s.data()
    for which in range(5):
        for form in range(4):
            s = new("gaussians", double=form % 2 == 1)
            s.pick(which)
            s.pick(2)
            s.one_of(0)
            s.pick(3)
            components = (2, 1) if which == 4 else (1, 1)
            for c, count in enumerate(components):
                if which == 4:
                    s.pick(count - 1)
                for _ in range(count):
                    s.pick(form)
                    s.pick(1)
                    s.spread("1")
                    s.pick(1)
                    s.entries(2)
                    s.spread("1")
                    s.entries(4)
                if which == 4:
                    s.pick(1)
                    s.weights(count)
                    s.pick(1)
            seeds[f"gaussians_{which}_{form}"] = s.data()
    for which in range(4):
        s = new("kl_diagonal", double=which % 2 == 1)
        s.pick(which)
        s.pick(3)
        s.pick(3)
        s.pick(1)
        s.matrix(3, 3, "1")
        s.pick(1)
        s.matrix(3, 3, "1")
        s.matrix(3, 3, "1")
        s.matrix(3, 3, "1")
        s.row_options(mask=1 if which == 1 else 0)
        s.pick(0 if which >= 2 else 1)
        for _ in range(4):
            s.pick(1)
        seeds[f"kl_diagonal_{which}"] = s.data()
    params = [(0, 0, [1, 10]), (1, 1, [2, 3]), (2, 2, [0, 1, 3, 1]), (3, 3, [0, 2]), (4, 4, [1, 11]), (5, 5, [0, 2]),
              (6, 6, [2, 1, 5, 0]), (7, 7, [0, 2, 4, 1]), (9, 9, [0, 1, 2, 0]), (10, 10, [2, 0, 0, 2]),
              (11, 11, [1, 2, 4, 0]), (12, 12, [3, 5, 0, 5]), (9, 11, [2, 1, 0, 2]), (6, 5, [4, 2, 1]),
              (12, 9, [0, 1, 1, 0]), (11, 9, [0, 2, 2, 1])]
    for ip, iq, values in params:
        s = new("family_kl", double=True)
        s.pick(0)
        s.pick(ip)
        s.pick(iq)
        for v in values:
            s.one_of(v)
        seeds[f"family_kl_{ip:02d}_{iq:02d}"] = s.data()
    s = new("family_kl", double=True)
    s.pick(0)
    s.pick(8)
    s.pick(8)
    s.pick(3)
    s.bytes += [0, 2, 4]
    s.pick(3)
    s.bytes += [4, 0, 2]
    seeds["family_kl_dirichlet"] = s.data()
    for family in (6, 9, 11):
        s = new("family_kl", double=True)
        s.pick(2)
        s.pick(family)
        s.pick(family)
        s.pick(3)
        s.pick(0)  # q has B rows
        s.pick(2)
        s.pick(1)
        s.bytes += [0, 2, 4, 5, 2, 6] * 2
        s.pick(1)
        s.pick(1)
        seeds[f"family_kl_rows_{family:02d}"] = s.data()
    for family in range(9):
        s = new("bregman", double=True)
        s.pick(family % 2)
        s.pick(family)
        s.pick(1 if family % 4 else 0)  # match_moments for a few
        s.pick(2)  # K = 2 where the family reads it
        s.pick(2)
        s.pick(1)
        s.spread("1")
        size = [1, 1, 2, 1, 1, 1, 2, 2, 2][family]
        s.entries(2 * size)
        s.one_of(1)
        s.pick(8)
        s.one_of(0)
        seeds[f"bregman_{family}"] = s.data()
    for which in range(3):
        for family in range(3):
            s = new("projection", double=True)
            s.pick(which)
            s.pick(1)  # 200 iterations
            s.one_of(0)
            if which == 0:
                s.pick(family * 3)
                s.pick(5)
                s.spread("1")
                s.entries(5)
                s.pick(1)
                s.pick(family % 2)
                s.pick(0)
            elif which == 1:
                s.pick(family)
                s.pick(family * 2)
                s.bytes += [0, 2]
            else:
                s.pick(family * 3)
                s.one_of(2)
                if family * 3 == 6:
                    s.bytes += [0, 5]  # a Binomial: 3 trials, p = 0.999999
                else:
                    s.bytes += [0, 2]
            seeds[f"projection_{which}_{family}"] = s.data()
    s = new("projection", double=True)
    s.pick(2)
    s.pick(1)
    s.one_of(0)
    s.pick(7)
    s.one_of(1)
    s.pick(4)
    s.weights(4)
    s.pick(1)
    s.spread("1")
    s.pick(1)
    s.entries(4)
    seeds["projection_tilt"] = s.data()
    return seeds


def main():
    rng = random.Random(1)
    seeds = {}
    for api in APIS[:10]:
        if api == "f_divergence":
            continue
        seeds[f"{api}_float_logits"] = seed(rng, api, grad_q=0 if api == "entropy" else 3)
        seeds[f"{api}_double_probs"] = seed(rng, api, double=True, p={"form": "probs"}, q={"form": "probs"},
                                            grad_q=0 if api == "entropy" else 4)
        seeds[f"{api}_double_log_probs_masked"] = seed(
            rng, api, double=True, p={"form": "log_probs", "layout": 1}, q={"form": "log_probs", "layout": 2},
            mask=4, grad_p=5, grad_q=0 if api == "entropy" else 6, validation=1)
    seeds["generalized_js_beta_0.25"] = seed(rng, "generalized_js", parameter="0.25")
    seeds["renyi_alpha_2"] = seed(rng, "renyi", parameter="2", double=True)
    seeds["renyi_alpha_0"] = seed(rng, "renyi", parameter="0")
    seeds["kl_float_huge_logits"] = seed(rng, "kl", p={"scale": "1e4", "temperature": "7"},
                                         q={"scale": "1e4", "temperature": "1"})
    seeds["js_p_equals_q"] = seed(rng, "js_distance", q={"fill": 3})
    seeds["kl_one_hot"] = seed(rng, "kl", double=True, p={"fill": 4, "form": "probs"}, q={"fill": 4})
    seeds["kl_specials"] = seed(rng, "kl", p={"fill": 1, "rate": 64}, q={"fill": 1, "rate": 64})
    seeds["cross_entropy_bare"] = seed(rng, "cross_entropy", double=True, p={"form": "bare"}, q={"form": "bare"})
    seeds["entropy_vector"] = seed(rng, "entropy", rows=1, cols=9, p={"layout": 5}, grad_q=0)
    seeds["kl_column_vector"] = seed(rng, "kl", rows=1, cols=9, p={"layout": 6}, q={"layout": 4})
    seeds["kl_single_column"] = seed(rng, "kl", rows=4, cols=1)
    parameters = {8: "0.25", 9: "0.5", 10: "0.5", 12: "3", 13: "2"}
    for g in range(19):
        parameter = parameters.get(g, "0.5")
        seeds[f"f_divergence_{g:02d}"] = seed(rng, "f_divergence", double=g % 2 == 1, generator=g,
                                              parameter=parameter, dual=g % 3 == 0)
        if g % 4 == 0:
            seeds[f"f_divergence_{g:02d}_probs"] = seed(rng, "f_divergence", generator=g, parameter=parameter,
                                                        p={"form": "probs"}, q={"form": "log_probs"})
        seeds[f"members_{g:02d}"] = seed(rng, "members", generator=g, parameter=parameter, dual=g % 2 == 1,
                                         points=("0", "0.5", "1", "2", "10", "1e20", "1e-30"))
    for g in (0, 8, 12):
        seeds[f"density_ratio_weights_{g:02d}"] = seed(rng, "density_ratio_weights", generator=g,
                                                       parameter="0.5", p={"form": "logits", "scale": "10"})
    seeds["density_ratio_weights_returned"] = seed(rng, "density_ratio_weights", double=True, generator=3,
                                                   grad_p=0)
    seeds["mutual_information_table"] = seed(rng, "mutual_information", double=True, rows=4, cols=3,
                                             p={"form": "probs", "fill": 0, "scale": "1"}, row_values=0,
                                             grad_q=0, reduction=1)
    for g, name in enumerate(["squared_hellinger", "total_variation", "pearson_chi_squared", "neyman_chi_squared",
                              "jeffreys", "triangular"]):
        seeds[f"named_{name}"] = seed(rng, "named_f_divergence", double=g % 2 == 1, generator=g)
        seeds[f"named_{name}_probs"] = seed(rng, "named_f_divergence", generator=g, p={"form": "probs"},
                                            q={"form": "log_probs", "layout": 1}, validation=2,
                                            row_values=0)
    teacher = {"form": "probs", "scale": "3"}
    seeds["top_k_kl_float"] = seed(rng, "top_k_kl", p=teacher, grad_p=0)
    seeds["top_k_kl_double_log_probs"] = seed(rng, "top_k_kl", double=True, rows=4, cols=9, k=3,
                                              p={"form": "log_probs"}, q={"layout": 1}, index_layout=1, grad_p=0,
                                              grad_q=5)
    seeds["top_k_kl_no_tail_masked"] = seed(rng, "top_k_kl", double=True, k=5, p=teacher, tail=False, mask=4,
                                            grad_p=0)
    seeds["top_k_kl_raw_indices"] = seed(rng, "top_k_kl", k=3, p=teacher, indices=3, grad_p=0)

    seeds.update(decoder_seeds(random.Random(2)))

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    # Rewrites the generated seeds; keeps regression_* (inputs that found a defect, saved from fuzz runs).
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if not name.startswith("regression_"):
            os.remove(os.path.join(out, name))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
