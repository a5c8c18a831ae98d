#!/usr/bin/env python3
"""Generates RDP and PLD accountant test vectors with Google's dp_accounting.

Usage: python3 generate_vectors.py OUT.json
(needs `pip install dp-accounting==0.6.0`; `make crosscheck` sets up a venv and runs it).

Each case is a list of (rate q, noise multiplier sigma, count) events composed with
dp_accounting's RdpAccountant (default orders, add-or-remove-one), and the (epsilon, order)
it reports for each delta; and, for PLD, with dp_accounting's PLDAccountant (pessimistic
connect the dots, add-or-remove-one) at a stated value discretisation `h`:
- the first 54 PLD vectors use dp_accounting's default h = 1e-4;
- the issue's grid uses the h that FedSim's PLDAccountant.discretization(for:) picks
  (`pld_discretization` below is the same rule on dp_accounting's own PLDs; the Swift tests
  check the two agree).
Every PLD vector records dp_accounting's wall time ("seconds") for the whole query (all its
deltas) and the peak RSS ("peak_mb") of the forked process that ran it.
"""
import json
import math
import multiprocessing
import resource
import sys
import time

import dp_accounting
from dp_accounting import dp_event
from dp_accounting.pld import common as pld_common
from dp_accounting.pld import pld_privacy_accountant as pld
from dp_accounting.pld import privacy_loss_distribution as pld_lib
from dp_accounting.rdp import rdp_privacy_accountant as rdp

# dp_accounting truncates the Gaussian noise at its 0.5 * e^-50 quantile (log_mass_truncation_bound
# = -50): scipy.stats.norm.ppf(0.5 * math.exp(-50)) = -9.745474864965935.
Z_TRUNC = 9.745474864965935
MAX_POINTS = 1 << 18


def epsilon(events, delta):
    acc = rdp.RdpAccountant()
    for q, sigma, count in events:
        acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), count)
    eps, order = acc.get_epsilon_and_optimal_order(delta)
    return eps, order


def _pld_query(events, deltas, h, conn):
    t = time.perf_counter()
    acc = pld.PLDAccountant(value_discretization_interval=h)
    for q, sigma, count in events:
        acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), count)
    eps = [acc.get_epsilon(d) for d in deltas]
    secs = time.perf_counter() - t
    conn.send((eps, secs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    conn.close()


def pld_epsilons(events, deltas, h=1e-4):
    """dp_accounting's PLD epsilons, with the query's wall time and the peak RSS (MB) of the
    forked process that ran it (which starts from this one's: Python, numpy, scipy loaded)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_pld_query, args=(events, deltas, h, child))
    p.start()
    eps, secs, rss_kb = parent.recv()
    p.join()
    return eps, secs, rss_kb / 1024


def loss_width(q, sigma):
    """Width of one round's privacy-loss support (the same in both directions)."""
    def remove_loss(x):  # log(1 - q + q e^{l0}), l0 = (-1/2 - x) / sigma^2
        l0 = (-0.5 - x) / sigma ** 2
        if l0 > 0:
            return l0 + math.log(q + (1 - q) * math.exp(-l0))
        if l0 > -1:
            return math.log1p(q * math.expm1(l0))
        a, b = (math.log1p(-q) if q < 1 else -math.inf), math.log(q) + l0
        hi, lo = max(a, b), min(a, b)
        return hi if lo == -math.inf else hi + math.log1p(math.exp(lo - hi))
    return remove_loss(-sigma * Z_TRUNC - 1) - remove_loss(sigma * Z_TRUNC)


def round_up_125(x):
    """The smallest of 1, 2, 5 x 10^k that is >= x."""
    raw = max(x, 1e-12)
    k = math.floor(math.log10(raw))
    for m in (1, 2, 5):
        v = float(f"{m}e{k}")
        if v >= raw * (1 - 1e-12):
            return v
    return float(f"1e{k + 1}")


def pld_discretization(events):
    """FedSim's rule (PLDAccountant.discretization(for:)): build one round's PLD on a provisional
    grid (2^16 points across its loss support), take the Chernoff window of its T-fold
    composition at tail mass 1e-15 in loss units (the wider direction), add the events' windows,
    and spread 2^18 points over the total, rounded up to 1, 2 or 5 x 10^k."""
    window = 0.0
    for q, s, t in events:
        h0 = round_up_125(loss_width(q, s) / 2 ** 16)
        p = pld_lib.from_gaussian_mechanism(s, value_discretization_interval=h0, sampling_prob=q)
        widest = 0.0
        for pmf in (p._pmf_remove, p._pmf_add):  # pylint: disable=protected-access
            lo, hi = pld_common.compute_self_convolve_bounds(pmf.to_dense_pmf()._probs, t, 1e-15)
            widest = max(widest, (hi - lo + 1) * h0)
        window += widest
    return round_up_125(window / MAX_POINTS)


# Grid cases the debug-build test suite runs (each takes about 0.5-1.5 s unoptimised): the corners that
# broke, and a spread of the rest. `make crosscheck` runs every case in release.
QUICK_GRID = {(1.0, 0.3, 1), (1.0, 0.3, 100000), (0.0001, 20.0, 100000), (0.5, 0.5, 100)}


def issue_grid():
    """The issue's grid, thinned to two step counts per (q, sigma), plus every corner."""
    qs = [1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0]
    sigmas = [0.3, 0.5, 1.0, 2.0, 5.0, 20.0]
    steps = [1, 10, 100, 1000, 10000, 100000]
    cases = []
    for i, q in enumerate(qs):
        for j, s in enumerate(sigmas):
            for t in (steps[(i + j) % 6], steps[(i + j + 3) % 6]):
                cases.append((q, s, t))
    for q in (qs[0], qs[-1]):
        for s in (sigmas[0], sigmas[-1]):
            for t in (steps[0], steps[-1]):
                if (q, s, t) not in cases:
                    cases.append((q, s, t))
    return cases


def main(out):
    cases = []
    for q in [0.001, 0.01, 0.1, 0.5, 1.0]:
        for sigma in [0.5, 1.0, 2.0, 5.0]:
            for steps in [1, 10, 100, 1000, 10000]:
                cases.append([[q, sigma, steps]])
    # Heterogeneous compositions: rounds whose rate and noise differ.
    cases += [
        [[0.01, 1.0, 100], [0.02, 1.5, 50]],
        [[0.1, 0.8, 10], [0.05, 2.0, 200], [0.001, 0.6, 1000]],
        [[0.5, 3.0, 5], [1.0, 4.0, 3]],
        [[0.003, 1.1, 5000], [0.03, 1.1, 500]],
        [[0.25, 1.3, 40], [0.25, 2.6, 40], [0.25, 5.0, 40]],
        [[0.0106, 1.0, 100]],  # 100 of 943 ML-100K users per round, Poisson-equivalent rate
    ]
    rows = []
    for events in cases:
        for delta in [1e-5, 1e-6]:
            eps, order = epsilon(events, delta)
            rows.append({"events": events, "delta": delta, "epsilon": eps, "order": order})
    # RDP on the issue's full grid (cheap on both sides).
    for q in [1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0]:
        for sigma in [0.3, 0.5, 1.0, 2.0, 5.0, 20.0]:
            for steps in [1, 10, 100, 1000, 10000, 100000]:
                for delta in [1e-10, 1e-5]:
                    events = [[q, sigma, steps]]
                    eps, order = epsilon(events, delta)
                    rows.append({"events": events, "delta": delta, "epsilon": eps, "order": order})

    # PLD vectors at dp_accounting's default h = 1e-4. "quick" marks the cases cheap enough
    # for the debug-build test suite; `make crosscheck` runs them all in release.
    pld_rows = []

    def add(events, deltas, quick, h, rule):
        eps, secs, peak_mb = pld_epsilons(events, deltas, h)
        for d, e in zip(deltas, eps):
            pld_rows.append({"events": events, "delta": d, "epsilon": e, "discretization": h,
                             "rule": rule, "quick": quick, "seconds": secs, "peak_mb": round(peak_mb, 1)})

    for q in [0.01, 0.1, 0.5, 1.0]:
        for sigma in [0.8, 1.0, 2.0]:
            for steps in [1, 10, 100]:
                quick = (q == 0.01 and (sigma == 2.0 or steps == 1)) or (q == 0.1 and sigma == 2.0 and steps <= 10)
                add([[q, sigma, steps]], [1e-5], quick, 1e-4, "fixed")
    for events in [[[0.01, 1.0, 20], [0.02, 2.0, 10]], [[0.1, 2.0, 5], [0.05, 1.0, 5]]]:
        add(events, [1e-5], True, 1e-4, "fixed")
    for q, sigma, steps in [(0.001, 0.5, 1000), (0.001, 0.5, 10000), (0.001, 5.0, 10000), (0.01, 0.5, 1000),
                            (0.01, 5.0, 10000), (0.1, 5.0, 1000), (0.001, 1.0, 10000), (0.01, 1.0, 1000)]:
        add([[q, sigma, steps]], [1e-5, 1e-6], False, 1e-4, "fixed")

    # The issue's grid at the discretisation FedSim picks ("auto"). Quick: cheap in a debug build.
    for q, sigma, steps in issue_grid():
        events = [[q, sigma, steps]]
        h = pld_discretization(events)
        quick = (q, sigma, steps) in QUICK_GRID
        add(events, [1e-10, 1e-5], quick, h, "auto")
        print(f"PLD q={q} sigma={sigma} T={steps} h={h}: {pld_rows[-2]['epsilon']:.6g} / {pld_rows[-1]['epsilon']:.6g}"
              f" in {pld_rows[-1]['seconds']:.2f} s", file=sys.stderr)
    for events in [[[0.01, 1.0, 100], [0.02, 1.5, 50]], [[0.5, 0.5, 10], [1e-3, 2.0, 1000]]]:
        add(events, [1e-10, 1e-5], events[0][0] == 0.01, pld_discretization(events), "auto")

    with open(out, "w") as f:
        json.dump({"generator": "dp_accounting " + getattr(dp_accounting, "__version__", "0.6.0")
                   + " RdpAccountant (default orders) and PLDAccountant (pessimistic connect the dots at the stated"
                   " discretization), ADD_OR_REMOVE_ONE",
                   "cases": rows, "pld": pld_rows}, f, indent=1)
    print(f"wrote {len(rows)} RDP and {len(pld_rows)} PLD vectors to {out}; dp_accounting's slowest PLD query "
          f"{max(r['seconds'] for r in pld_rows):.3f} s, largest peak RSS {max(r['peak_mb'] for r in pld_rows):.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
