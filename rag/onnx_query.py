"""One query at a time through onnxruntime: the vectors sentence-transformers gives (to about
1e-7), in a fraction of the time.

One short text is where torch on a CPU is least efficient: module dispatch and small matrix
products, not arithmetic. Measured here on ClapNQ questions, one thread: 15-23 ms a query with
sentence-transformers, 4-8 ms with onnxruntime, most of a new question's search time either way.
Documents are still embedded in batches by torch, where it is efficient.

The model is exported once (torch.onnx), with its mean pooling and normalisation, to a file named
by a hash of its weights under the cache folder, written atomically so that processes starting
together never read half a file. Only the layout the packaged model has (a transformer, mean
pooling, optional normalisation) is exported; any other raises UnsupportedModel, and the caller
keeps torch.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from pathlib import Path

import numpy as np

_EXPORT_VERSION = "1"  # part of the file's name: a change to the export below makes a new file


class UnsupportedModel(ValueError):
    pass


def _check_layout(model) -> None:
    names = [type(module).__name__ for module in model]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise UnsupportedModel(f"modules {names}")
    pooling = model[1].get_config_dict().get("pooling_mode")
    if pooling != "mean":
        raise UnsupportedModel(f"pooling {pooling!r}")
    if not hasattr(model[0], "auto_model"):
        raise UnsupportedModel("no transformer inside")


def _fingerprint(model) -> str:
    digest = hashlib.sha256(f"{_EXPORT_VERSION}:{model.max_seq_length}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _export(model, target: Path, input_names: list[str]) -> None:
    import torch

    class MeanPooledNormalised(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs):
            features = dict(zip(input_names, inputs))
            hidden = self.transformer(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = model[0].tokenizer(["a sample question"], return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's notes on tracing are not for users
            torch.onnx.export(
                MeanPooledNormalised(model[0].auto_model).eval(),
                tuple(sample[name] for name in input_names),
                str(staging),
                input_names=input_names,
                output_names=["embedding"],
                dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in input_names}, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


class OnnxQueryEncoder:
    """`encode(text)`: the normalised vector of one text, as `model.encode([text])[0]` gives it."""

    def __init__(self, model, tokenizer_file: Path, cache_dir: Path, threads: int = 1):
        import onnxruntime
        from tokenizers import Tokenizer

        _check_layout(model)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(int(model.max_seq_length))
        self._input_names = list(model[0].tokenizer(["x"], return_tensors="np").keys())
        path = Path(cache_dir) / "onnx" / f"query-encoder-{_fingerprint(model)}.onnx"
        if not path.is_file():
            _export(model, path, self._input_names)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path

    def encode(self, text: str) -> np.ndarray:
        encoding = self._tokenizer.encode(text)
        arrays = {
            "input_ids": encoding.ids,
            "attention_mask": encoding.attention_mask,
            "token_type_ids": encoding.type_ids,
        }
        feed = {name: np.asarray([arrays[name]], dtype=np.int64) for name in self._input_names}
        return self._session.run(None, feed)[0][0]
