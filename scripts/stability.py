#!/usr/bin/env python3
"""Issue 18's stability criterion on finished runs: a showcase scenario run to 3x its rounds
must end within 0.003 RMSE of its best and with NDCG@10 no more than 0.005 below its best.

    scripts/stability.py RUN_DIR [RUN_DIR ...]

"Best" is the best test value any evaluation of the run reported (the trajectory, read from
metrics.jsonl); "end" is the run's final figure (summary.json `final`, the model it wrote,
which is the best validation round's under early stopping). The test values are read here
only to measure stability, never to choose anything. Under sampled negatives the NDCG is the
sampled one (`ndcg@K_sampledN`).
"""
import json
import sys


def measure(run):
    lines = [json.loads(l) for l in open(run + "/metrics.jsonl") if l.strip()]
    evals = [(l["round"], l["eval"]) for l in lines if "eval" in l]
    final = json.load(open(run + "/summary.json"))["final"]
    sampled = [k for k in evals[-1][1] if k.startswith("ndcg@") and "_sampled" in k]
    ndcg_key = sampled[0] if sampled else next(k for k in evals[-1][1] if k.startswith("ndcg@"))
    out = {"run": run, "rounds": lines[-1]["round"], "model_round": lines[-1].get("eval_model_round")}
    ndcg = [(e[ndcg_key], r) for r, e in evals if e.get(ndcg_key) is not None]
    best_ndcg, at = max(ndcg)
    end_ndcg = evals[-1][1][ndcg_key]
    out.update(ndcg_key=ndcg_key, best_ndcg=best_ndcg, best_ndcg_round=at, end_ndcg=end_ndcg,
               ndcg_ok=best_ndcg - end_ndcg <= 0.005)
    implicit = json.load(open(run + "/scenario.json")).get("evaluation", {}).get("implicit", False)
    rmse = [(e["rmse"], r) for r, e in evals if e.get("rmse") is not None]
    if rmse and final.get("rmse") is not None and not implicit:  # implicit feedback rates nothing
        best_rmse, at = min(rmse)
        out.update(best_rmse=best_rmse, best_rmse_round=at, end_rmse=final["rmse"],
                   rmse_ok=final["rmse"] - best_rmse <= 0.003)
    return out


print("| run | rounds run | model round | RMSE best (round) → end | ok | NDCG best (round) → end | ok |")
print("|---|---|---|---|---|---|---|")
for run in sys.argv[1:]:
    m = measure(run.rstrip("/"))
    rmse = (f"{m['best_rmse']:.4f} ({m['best_rmse_round']}) → {m['end_rmse']:.4f} (+{m['end_rmse'] - m['best_rmse']:.4f})" if "best_rmse" in m else "n/a")
    print(f"| {m['run'].split('/')[-1]} | {m['rounds']} | {m['model_round']} | {rmse} | "
          f"{'yes' if m.get('rmse_ok', True) else 'NO'} | {m['ndcg_key']} {m['best_ndcg']:.4f} "
          f"({m['best_ndcg_round']}) → {m['end_ndcg']:.4f} (−{m['best_ndcg'] - m['end_ndcg']:.4f}) | {'yes' if m['ndcg_ok'] else 'NO'} |")
