"""The issue-24 workload in Flower's simulation engine (Ray) with Flower's own SecAgg+:
`SecAggPlusWorkflow` in the ServerApp (inside `DefaultWorkflow`, the only way Flower runs
it) and `secaggplus_mod` in the ClientApp. Same local work as flower_mf.py
(`mf_local.train_device`, the user row and bias kept in the node's `context.state`).

SecAgg+ in Flower sums dense vectors and divides by the sum of the clients' weights, so
each client sends its per-item weighted deltas, per-item counts and global-bias delta as
dense arrays with weight 1 (`max_weight` 1, so the weight costs no quantization precision);
the strategy receives the mean, multiplies it by the number of clients to get the sums,
and divides per item, exactly as the plain scripts do. Flower quantizes each value into
[-8, 8] with 2^22 levels and masks modulo 2^32; FedSim's scenario quantizes with its own
scale, also modulo 2^32. The neighbourhood matches FedSim's choice for 100 devices:
38 neighbours (Flower counts the device itself: num_shares 39) and threshold 21.

A round is timed from the strategy's `configure_fit` (the first step of the setup stage)
to its `aggregate_fit` (after unmasking): all four SecAgg+ stages. Prints one JSON line:
device-updates/s from the median round.
Usage: flower_secagg_mf.py DATA_DIR ROUNDS
"""
import json
import os
import sys
import time

import numpy as np
from flwr.app import ArrayRecord, Context
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid, ServerApp
from flwr.simulation import run_simulation

import mf_local

PER_ROUND = 100
NUM_SHARES, THRESHOLD = 39, 21
DATA = sys.argv[1] if len(sys.argv) > 1 else "data/ml-100k"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
OUT = os.environ.get("PEER_RESULT", "/dev/stdout")


def train_data():
    return mf_local.load_once(DATA)


class MFClient(NumPyClient):
    def __init__(self, context: Context):
        self.ctx = context
        self.device = int(context.node_config["partition-id"])

    def fit(self, parameters, config):
        q, b, mu = parameters
        d = self.device
        state = self.ctx.state
        if "personal" in state:
            p, bu = state["personal"].to_numpy_ndarrays()
            personal = (p, float(bu[0]))
        else:
            personal = mf_local.initial_personal(d)
        r = int(config["round"])
        (ids, dq, db, w, dmu), (p, bu) = mf_local.train_device(d, train_data()[0][d], q, b, float(mu[0]), personal,
                                                               r * 10_000 + d)
        state["personal"] = ArrayRecord(numpy_ndarrays=[p, np.array([bu])])
        dense_q, dense_b, dense_w = np.zeros_like(q), np.zeros_like(b), np.zeros_like(b)
        dense_q[ids], dense_b[ids], dense_w[ids] = dq, db, w
        return [dense_q, dense_b, dense_w, np.array([dmu], dtype=np.float32)], 1, {}


def client_fn(context: Context):
    return MFClient(context).to_client()


client = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


class PerItemMean(FedAvg):
    """Samples 100 of the 943 nodes a round and applies the per-item weighted mean of what
    SecAgg+ revealed; times each round."""

    def __init__(self, items: int):
        super().__init__(fraction_fit=0.1, min_fit_clients=PER_ROUND, fraction_evaluate=0.0, min_evaluate_clients=0,
                         min_available_clients=len(train_data()[0]),
                         on_fit_config_fn=lambda r: {"round": r})
        self.q, self.b, self.mu = mf_local.initial_shared(items)
        self.started = 0.0
        self.seconds = []

    def initialize_parameters(self, client_manager):
        return ndarrays_to_parameters([self.q, self.b, np.array([self.mu], dtype=np.float32)])

    def configure_fit(self, server_round, parameters, client_manager):
        self.started = time.perf_counter()
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):
        if not results:
            raise RuntimeError(f"round {server_round}: SecAgg+ returned no result ({len(failures)} failures)")
        n = len(results)
        sq, sb, sw, smu = (a * n for a in parameters_to_ndarrays(results[0][1].parameters))
        # The revealed counts carry quantization error (~n × 16 / 2^22): round them.
        counts = np.rint(sw)
        seen = counts > 0
        self.q[seen] += (sq[seen] / counts[seen, None]).astype(np.float32)
        self.b[seen] += (sb[seen] / counts[seen]).astype(np.float32)
        self.mu += float(smu[0]) / n
        self.seconds.append(time.perf_counter() - self.started)
        print(f"flower-secagg: round {server_round} {self.seconds[-1]:.2f} s, {n} updates, "
              f"{len(failures)} failures", file=sys.stderr, flush=True)
        return self.initialize_parameters(None), {}


server = ServerApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    _, items = train_data()
    strategy = PerItemMean(items)
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=ROUNDS), strategy=strategy)
    workflow = DefaultWorkflow(
        fit_workflow=SecAggPlusWorkflow(num_shares=NUM_SHARES, reconstruction_threshold=THRESHOLD, max_weight=1.0))
    workflow(grid, legacy)
    if len(strategy.seconds) < 2:
        raise RuntimeError(f"flower-secagg: only {len(strategy.seconds)} rounds completed")
    with open(OUT, "a") as f:
        f.write(json.dumps({"system": "flower-secagg", "version": "1.42.0", "rounds": len(strategy.seconds),
                            "num_shares": NUM_SHARES, "threshold": THRESHOLD,
                            "updates_per_second": mf_local.median_rate(strategy.seconds, PER_ROUND)}) + "\n")


if __name__ == "__main__":
    run_simulation(server_app=server, client_app=client, num_supernodes=len(train_data()[0]),
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
