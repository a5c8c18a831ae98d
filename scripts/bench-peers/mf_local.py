"""The issue-24 workload for the peer simulators, in NumPy: federated biased MF on ML-100K.

Every user is a device. Each round 100 devices train one epoch of per-rating SGD (dim 16,
lr 0.05, L2 1e-4) on their 80% training split, starting from the shared item embeddings,
item biases and global bias, with their own user row and bias kept on the device between
rounds. A device sends, per item it rated, its count-weighted delta and the count; the
server adds them and divides per item (per-item FedAvg, as FedSim's `weighting: per_item`).
Both peer scripts call `train_device`, so they do the same local work; what differs is the
framework around it.
"""
import os
import time

import numpy as np

DIM, LR, L2 = 16, 0.05, 1e-4


def load(path):
    """Per-user training ratings (item index, rating) after a seeded 80/20 split."""
    # data/ml-100k as `make data` lays it out (RecBole's atomic file, one header line), or
    # GroupLens' own u.data (no header); both are user, item, rating, timestamp.
    inter = os.path.join(path, "ml-100k.inter")
    if os.path.exists(inter):
        raw = np.loadtxt(inter, skiprows=1).astype(np.int64)
    else:
        raw = np.loadtxt(os.path.join(path, "u.data")).astype(np.int64)
    users = np.unique(raw[:, 0])
    items = np.unique(raw[:, 1])
    uidx = {u: i for i, u in enumerate(users)}
    iidx = {it: i for i, it in enumerate(items)}
    rng = np.random.default_rng(42)
    per_user = [[] for _ in users]
    for u, it, r, _ in raw:
        per_user[uidx[u]].append((iidx[it], float(r)))
    train = []
    for rows in per_user:
        rows = np.array(rows)
        keep = rng.random(len(rows)) >= 0.2
        train.append((rows[keep, 0].astype(np.int64), rows[keep, 1]))
    return train, len(items)


_loaded = {}


def load_once(path):
    """`load`, once per process: Flower's client and server apps both ask for the data."""
    if path not in _loaded:
        _loaded[path] = load(path)
    return _loaded[path]


def initial_shared(items, seed=1):
    rng = np.random.default_rng(seed)
    # float32, as FedSim's model: the broadcast is the same 115 kB.
    return rng.normal(0, 0.02, size=(items, DIM)).astype(np.float32), np.zeros(items, dtype=np.float32), 3.0


def initial_personal(device):
    rng = np.random.default_rng(10_000 + device)
    return rng.normal(0, 0.02, size=DIM), 0.0


def train_device(device, data, q, b, mu, personal, seed):
    """One epoch of per-rating SGD. Returns (item ids, weighted delta rows, weighted bias
    deltas, counts, global-bias delta) and the new personal state."""
    item_ids, ratings = data
    uniq, local_idx, counts = np.unique(item_ids, return_inverse=True, return_counts=True)
    lq = q[uniq].copy()
    lb = b[uniq].copy()
    p, bu = personal
    p = p.copy()
    m = mu
    order = np.random.default_rng(seed).permutation(len(ratings))
    for k in order:
        j = local_idx[k]
        qj = lq[j]
        e = m + bu + lb[j] + float(p @ qj) - ratings[k]
        gp = e * qj + L2 * p
        lq[j] = qj - LR * (e * p + L2 * qj)
        p -= LR * gp
        bu -= LR * (e + L2 * bu)
        lb[j] -= LR * (e + L2 * lb[j])
        m -= LR * e
    w = counts.astype(np.float32)
    return (uniq, (lq - q[uniq]) * w[:, None], (lb - b[uniq]) * w, w, m - mu), (p, bu)


def local_only_rate(train, items, devices=300, seed=0):
    """Baseline: the same local training in a plain loop, one core, no framework."""
    q, b, mu = initial_shared(items)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(train), size=devices)
    t = time.perf_counter()
    for n, d in enumerate(picks):
        train_device(d, train[d], q, b, mu, initial_personal(d), n)
    return devices / (time.perf_counter() - t)


def median_rate(round_seconds, per_round):
    s = sorted(round_seconds[1:])  # the first round includes warm-up
    return per_round / s[len(s) // 2]
