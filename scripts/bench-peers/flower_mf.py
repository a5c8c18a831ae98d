"""The issue-24 workload in Flower's simulation engine (Ray backend): one SuperNode per
ML-100K user, a ServerApp whose main loop samples 100 nodes a round, sends them the shared
model through Flower's Grid and applies the per-item weighted mean of their replies, and a
ClientApp whose train step is `mf_local.train_device` (the user row and bias persist in the
node's `context.state`).

Prints one JSON line: device-updates/s from the median round.
Usage: flower_mf.py DATA_DIR ROUNDS
"""
import json
import os
import random
import sys
import time

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.simulation import run_simulation

import mf_local

PER_ROUND = 100
DATA = sys.argv[1] if len(sys.argv) > 1 else "data/ml-100k"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 6
OUT = os.environ.get("PEER_RESULT", "/dev/stdout")


def train_data():
    return mf_local.load_once(DATA)


client = ClientApp()


@client.train()
def train(msg: Message, context: Context) -> Message:
    d = int(context.node_config["partition-id"])
    q, b, mu = msg.content["arrays"].to_numpy_ndarrays()
    r = int(msg.content["config"]["round"])
    if "personal" in context.state:
        p, bu = context.state["personal"].to_numpy_ndarrays()
        personal = (p, float(bu[0]))
    else:
        personal = mf_local.initial_personal(d)
    (ids, dq, db, w, dmu), (p, bu) = mf_local.train_device(d, train_data()[0][d], q, b, float(mu[0]), personal,
                                                           r * 10_000 + d)
    context.state["personal"] = ArrayRecord(numpy_ndarrays=[p, np.array([bu])])
    reply = ArrayRecord(numpy_ndarrays=[ids, dq, db, w, np.array([dmu])])
    return Message(content=RecordDict({"arrays": reply}), reply_to=msg)


server = ServerApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    _, items = train_data()
    q, b, mu = mf_local.initial_shared(items)
    # SuperNodes register in the background: wait for all of them before sampling.
    deadline = time.monotonic() + 300
    while len(nodes := sorted(grid.get_node_ids())) < len(train_data()[0]) and time.monotonic() < deadline:
        time.sleep(0.5)
    rng = random.Random(42)
    seconds = []
    for r in range(ROUNDS):
        t = time.perf_counter()
        shared = ArrayRecord(numpy_ndarrays=[q, b, np.array([mu])])
        out = [
            Message(content=RecordDict({"arrays": shared, "config": ConfigRecord({"round": r})}),
                    message_type="train", dst_node_id=n)
            for n in rng.sample(nodes, PER_ROUND)
        ]
        sq, sb, sw, smu, n = np.zeros_like(q), np.zeros_like(b), np.zeros_like(b), 0.0, 0
        for reply in grid.send_and_receive(out):
            if reply.has_error():
                continue
            ids, dq, db, w, dmu = reply.content["arrays"].to_numpy_ndarrays()
            ids = ids.astype(np.int64)
            sq[ids] += dq
            sb[ids] += db
            sw[ids] += w
            smu += float(dmu[0])
            n += 1
        seen = sw > 0
        q[seen] += sq[seen] / sw[seen, None]
        b[seen] += sb[seen] / sw[seen]
        mu += smu / max(1, n)
        seconds.append(time.perf_counter() - t)
        print(f"flower: round {r} {seconds[-1]:.2f} s, {n} updates", file=sys.stderr, flush=True)
    with open(OUT, "a") as f:
        f.write(json.dumps({"system": "flower", "version": "1.42.0", "rounds": len(seconds),
                            "updates_per_second": mf_local.median_rate(seconds, PER_ROUND)}) + "\n")


if __name__ == "__main__":
    run_simulation(server_app=server, client_app=client, num_supernodes=len(train_data()[0]),
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
