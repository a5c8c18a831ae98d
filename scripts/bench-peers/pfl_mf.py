"""The issue-24 workload in pfl-research (Apple), one process: a NumPy model, a federated
algorithm whose client step is `mf_local.train_device`, and pfl's SimulatedBackend, which
samples the cohort, runs each user and sums the users' statistics.

Prints one JSON line: device-updates/s from the median round, and the same local training
without pfl in the same process (baseline).
Usage: pfl_mf.py DATA_DIR ROUNDS
"""
import json
import sys
import time

import numpy as np
from pfl.aggregate.simulate import SimulatedBackend
from pfl.algorithm.base import FederatedAlgorithm
from pfl.common_types import Population
from pfl.context import CentralContext
from pfl.data.dataset import Dataset
from pfl.data.federated_dataset import FederatedDataset
from pfl.data.sampling import get_user_sampler
from pfl.hyperparam.base import AlgorithmHyperParams, ModelHyperParams
from pfl.metrics import Metrics
from pfl.model.base import Model
from pfl.stats import MappedVectorStatistics

import mf_local

PER_ROUND = 100


class MFModel(Model):
    """Shared item embeddings, item biases and global bias; per-item weighted mean update."""

    def __init__(self, items):
        self.q, self.b, self.mu = mf_local.initial_shared(items)

    def apply_model_update(self, statistics):
        s = statistics
        w = s["weights"]
        seen = w > 0
        self.q[seen] += s["item_embedding"][seen] / w[seen, None]
        self.b[seen] += s["item_bias"][seen] / w[seen]
        self.mu += float(s["global_bias"][0]) / max(1.0, float(s["devices"][0]))
        return self, Metrics()


class PerItemFedAvg(FederatedAlgorithm):
    def __init__(self, train, items, rounds):
        super().__init__()
        self.train, self.items, self.rounds = train, items, rounds
        self.personal = {}
        self.round_ends = []

    def get_next_central_contexts(self, model, iteration, algorithm_params, model_train_params,
                                  model_eval_params=None):
        if iteration == self.rounds:
            return None, model, Metrics()
        ctx = CentralContext(current_central_iteration=iteration, do_evaluation=False,
                             cohort_size=PER_ROUND, population=Population.TRAIN,
                             algorithm_params=algorithm_params, model_train_params=model_train_params,
                             model_eval_params=model_eval_params, seed=iteration)
        return (ctx,), model, Metrics()

    def simulate_one_user(self, model, user_dataset, central_context):
        d = int(user_dataset.user_id)
        personal = self.personal.get(d) or mf_local.initial_personal(d)
        (ids, dq, db, w, dmu), self.personal[d] = mf_local.train_device(
            d, user_dataset.raw_data, model.q, model.b, model.mu, personal,
            central_context.current_central_iteration * 10_000 + d)
        # pfl sums statistics element-wise: dense tensors in the model's shape.
        q = np.zeros_like(model.q)
        b = np.zeros_like(model.b)
        weights = np.zeros_like(model.b)
        q[ids], b[ids], weights[ids] = dq, db, w
        stats = MappedVectorStatistics({"item_embedding": q, "item_bias": b, "weights": weights,
                                        "global_bias": np.array([dmu]), "devices": np.array([1.0])})
        return stats, Metrics()

    def process_aggregated_statistics(self, central_context, aggregate_metrics, model, statistics):
        model, metrics = model.apply_model_update(statistics)
        self.round_ends.append(time.perf_counter())
        return model, metrics


def main():
    path, rounds = sys.argv[1], int(sys.argv[2])
    train, items = mf_local.load(path)
    ids = [str(i) for i in range(len(train))]
    data = FederatedDataset(lambda uid: Dataset(raw_data=train[int(uid)], user_id=uid),
                            get_user_sampler("random", ids))
    backend = SimulatedBackend(training_data=data, val_data=None)
    algorithm = PerItemFedAvg(train, items, rounds)
    model = MFModel(items)
    start = time.perf_counter()
    algorithm.run(algorithm_params=AlgorithmHyperParams(), backend=backend, model=model,
                  model_train_params=ModelHyperParams(), send_metrics_to_platform=False)
    ends = [start] + algorithm.round_ends
    rounds_s = [b - a for a, b in zip(ends, ends[1:])]
    print(json.dumps({"system": "pfl", "version": "0.6.0", "rounds": len(rounds_s),
                      "updates_per_second": mf_local.median_rate(rounds_s, PER_ROUND),
                      "local_only_per_second": mf_local.local_only_rate(train, items)}))


if __name__ == "__main__":
    main()
