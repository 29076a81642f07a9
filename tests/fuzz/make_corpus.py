#!/usr/bin/env python3
"""Writes the seed corpus tests/fuzz/corpus/ for public_api_fuzz.cpp (deterministic).

Each seed is one call in the decoder's layout (see the comment at the top of public_api_fuzz.cpp):
choices are listed in the order the target reads them, then the whole list is reversed, because
FuzzedDataProvider::ConsumeIntegral reads from the end of the input (a 16-bit entry reads its high
byte first). Usage: python3 tests/fuzz/make_corpus.py  (rewrites the directory).
"""
import os
import random
import shutil

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

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
