"""Reads a FedSim run's TensorBoard event files with the real `tensorboard` package and prints
what it found as JSON: scalars per tag as [step, value] pairs, text summaries, and the
hyperparameters of the HParams plugin. Used by the test suite (TensorBoardTests)."""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

folder = sys.argv[1]
acc = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0})
acc.Reload()
tags = acc.Tags()
out = {"scalars": {}, "text": {}, "hparams": {}}
for tag in tags.get("scalars", []):
    out["scalars"][tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
for tag in tags.get("tensors", []):
    for e in acc.Tensors(tag):
        if e.tensor_proto.string_val:
            out["text"][tag] = e.tensor_proto.string_val[0].decode("utf-8")
try:
    content = acc.PluginTagToContent("hparams")
except KeyError:
    content = {}
for tag, raw in content.items():
    data = plugin_data_pb2.HParamsPluginData.FromString(raw)
    for name, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        out["hparams"][name] = getattr(value, kind)
print(json.dumps(out))
