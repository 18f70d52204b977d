"""A tiny WD14-style tagger built with onnx's helper API (nothing downloaded): the same signature as
SmilingWolf's taggers (one float input [batch, H, W, 3] in BGR 0-255, one output [batch, tags] of sigmoid
probabilities) and a selected_tags.csv, with scores fixed by the image's mean colour so that known images give
known tags:

    red image   -> red theme          blue image  -> blue theme          white -> white background
    green image -> hatsune_miku_(vocaloid) (character)
    every image -> long_hair 0.5, smile 0.4, ^_^ 0.95, solo 0.9, kagamine_rin 0.7 (character)
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

RATINGS = ["general", "sensitive", "questionable", "explicit"]
# (name, category, weights on the mean [b, g, r] in 0..1, bias): score = sigmoid(w . bgr + bias)
TAGS = [
    ("red_theme", 0, (-40, -40, 40), 0.0),
    ("blue_theme", 0, (40, -40, -40), 0.0),
    ("white_background", 0, (40, 40, 40), -100.0),
    ("long_hair", 0, (0, 0, 0), 0.0),
    ("smile", 0, (0, 0, 0), math.log(0.4 / 0.6)),
    ("^_^", 0, (0, 0, 0), math.log(0.95 / 0.05)),
    ("solo", 0, (0, 0, 0), math.log(0.9 / 0.1)),
    ("hatsune_miku_(vocaloid)", 4, (-40, 40, -40), 0.0),
    ("kagamine_rin", 4, (0, 0, 0), math.log(0.7 / 0.3)),
]


def write_tags_csv(path: Path) -> Path:
    lines = ["tag_id,name,category,count"]
    lines += [f"{9000 + i},{n},9,100" for i, n in enumerate(RATINGS)]
    lines += [f"{i},{n},{c},{1000 - i}" for i, (n, c, _, _) in enumerate(TAGS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_tagger(folder: Path, size: int | str = 32, batch: int | str = "N",
                channels_first: bool = False) -> tuple[Path, Path]:
    """model.onnx + selected_tags.csv in ``folder``; ``size`` the input height and width (a name: left open),
    ``batch`` 1 for a fixed batch dimension (as most v2 exports) or a name for a free one; ``channels_first``
    builds a model that is not WD14-style ([batch, 3, H, W])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n = len(RATINGS) + len(TAGS)
    w = np.zeros((3, n), np.float32)
    b = np.zeros((n,), np.float32)
    w[:, 0] = (0, 0, 0)
    b[0] = 5.0  # rating "general"
    for j, (_, _, weights, bias) in enumerate(TAGS):
        w[:, len(RATINGS) + j] = weights
        b[len(RATINGS) + j] = bias
    nodes = [
        helper.make_node("ReduceMean", ["input_1", "axes"], ["mean"], keepdims=0),  # [batch, 3] (NCHW: wrong)
        helper.make_node("Mul", ["mean", "scale"], ["unit"]),
        helper.make_node("MatMul", ["unit", "w"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"]),
    ]
    inits = [numpy_helper.from_array(np.array([2, 3] if channels_first else [1, 2], np.int64), "axes"),
             numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
             numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    graph = helper.make_graph(
        nodes, "tiny_wd14",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT,
                                       [batch, 3, size, size] if channels_first else [batch, size, size, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, [batch, n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx", write_tags_csv(folder / "selected_tags.csv")


def solid(path: Path, rgb, size=(48, 48)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path)
    return path
