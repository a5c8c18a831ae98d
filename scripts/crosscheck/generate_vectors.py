#!/usr/bin/env python3
"""Generates RDP accountant test vectors with Google's dp_accounting.

Usage: python3 generate_vectors.py OUT.json
(needs `pip install dp-accounting==0.6.0`; `make crosscheck` sets up a venv and runs it).

Each case is a list of (rate q, noise multiplier sigma, count) events composed with
dp_accounting's RdpAccountant (default orders, add-or-remove-one), and the (epsilon, order)
it reports for each delta.
"""
import json
import sys

import dp_accounting
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant as pld
from dp_accounting.rdp import rdp_privacy_accountant as rdp


def epsilon(events, delta):
    acc = rdp.RdpAccountant()
    for q, sigma, count in events:
        acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), count)
    eps, order = acc.get_epsilon_and_optimal_order(delta)
    return eps, order


def pld_epsilon(events, delta):
    acc = pld.PLDAccountant()  # value_discretization_interval 1e-4, connect-the-dots
    for q, sigma, count in events:
        acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), count)
    return acc.get_epsilon(delta)


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
    # PLD vectors: PLDAccountant defaults (1e-4 grid, connect the dots). "quick" marks the
    # cases cheap enough for the debug-build test suite; `make crosscheck` runs them all.
    pld_rows = []
    for q in [0.01, 0.1, 0.5, 1.0]:
        for sigma in [0.8, 1.0, 2.0]:
            for steps in [1, 10, 100]:
                events = [[q, sigma, steps]]
                quick = (steps <= 10 and q <= 0.1 and sigma >= 1.0) or (q == 0.01 and sigma == 2.0)
                pld_rows.append({"events": events, "delta": 1e-5, "epsilon": pld_epsilon(events, 1e-5), "quick": quick})
    for events in [[[0.01, 1.0, 20], [0.02, 2.0, 10]], [[0.1, 2.0, 5], [0.05, 1.0, 5]]]:
        pld_rows.append({"events": events, "delta": 1e-5, "epsilon": pld_epsilon(events, 1e-5), "quick": True})
    # Toward the full grid: small rates, long runs, the edges of σ, and δ = 1e-6.
    for q, sigma, steps in [(0.001, 0.5, 1000), (0.001, 0.5, 10000), (0.001, 5.0, 10000), (0.01, 0.5, 1000),
                            (0.01, 5.0, 10000), (0.1, 5.0, 1000), (0.001, 1.0, 10000), (0.01, 1.0, 1000)]:
        for delta in [1e-5, 1e-6]:
            events = [[q, sigma, steps]]
            pld_rows.append({"events": events, "delta": delta, "epsilon": pld_epsilon(events, delta), "quick": False})
    with open(out, "w") as f:
        json.dump({"generator": "dp_accounting " + getattr(dp_accounting, "__version__", "0.6.0") + " RdpAccountant (default orders) and PLDAccountant (1e-4, connect the dots), ADD_OR_REMOVE_ONE",
                   "cases": rows, "pld": pld_rows}, f, indent=1)
    print(f"wrote {len(rows)} vectors to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
