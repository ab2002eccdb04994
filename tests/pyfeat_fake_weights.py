"""A generated stand-in for py-feat's hub weights: real formats, meaningless numbers.

py-feat's ``Detectorv1`` loads its weights from the Hugging Face hub, which the
test machines cannot reach. :func:`generate_fake_weights` builds every file it
loads from py-feat's *own* model classes, randomly initialised, and saves each
under the name and in the format py-feat's loader expects:

========================  ==============================================================
``py-feat/retinaface_r34``  ``model.safetensors`` (``RetinaFace`` state dict)
``py-feat/mobilefacenet``   ``mobilefacenet_model_best.pth.tar`` (``{"state_dict": ...}``)
``py-feat/xgb_au``          ``xgb_au_classifier_v2.skops`` (py-feat's ``XGBClassifier``
                            wrapper: scaler/PCA for upper, lower and full face fitted on
                            HOG features of random face crops, 20 small XGBoost models
                            fitted on random labels)
``py-feat/resmasknet``      ``config.json`` + ``ResMaskNet_Z_resmasking_dropout1_rot30.pth``
                            (``{"net": ...}``)
``py-feat/pose_mlp_v2``     ``pose_mlp_v2.safetensors`` + ``pose_mlp_v2.json``
========================  ==============================================================

Two layers are set by hand so that later stages have something definite to
work on:

- the face detector reports exactly the boxes in :data:`FAKE_FACES` in every
  picture: its SSH feature blocks are made to output, in three channels,
  indicators of "not the first row" and "not the first column" of the feature
  map (a 3x3 convolution of a constant map reads the zero padding only at the
  border), and the class head turns them into a face score that is high only
  at the top-left anchor of one pyramid level per face; the box head's biases
  then move that anchor's box to the wanted place and size (in pixels, the
  same whatever the picture's size);
- the landmark model's last batch-norm outputs a neutral face shape inside
  the crop (py-feat's ``neutral_face_coordinates.csv``), so HOG alignment and
  the pose model get a well-formed face.

The numbers the detector reports are meaningless by design; the code path is
py-feat's own, end to end. The set is written in the hub-cache layout with a
manifest marked ``fake`` (see :mod:`facs_core.pyfeat_weights`), which the
production loader refuses unless the environment carries the set's own random
token: only a test that generated it knows that token.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

__all__ = ["FAKE_FACES", "generate_fake_weights"]

#: Faces the generated detector reports in every picture, as (x, y, width, height)
#: in pixels, with the pyramid level that carries each: the patient (large,
#: central in a 640x360 picture) and a small face near the top-left corner.
FAKE_FACES: tuple[tuple[float, float, float, float], ...] = (
    (240.0, 80.0, 160.0, 200.0),
    (48.0, 40.0, 64.0, 80.0),
)
#: (pyramid level, anchor) carrying each face of :data:`FAKE_FACES`; level
#: ``k`` has stride ``steps[k]`` and anchor sizes ``min_sizes[k]``.
_FACE_ANCHORS: tuple[tuple[int, int], ...] = ((2, 0), (1, 0))


def _shared_rows(state: dict, min_numel: int = 100_000) -> dict:
    """Large weight tensors as one random row repeated (a stride-0 view).

    ``torch.save`` stores a view's storage, not its expansion, so ResMaskNet's
    550 MB of parameters take a few MB on disk; ``load_state_dict`` copies the
    rows out again. Small tensors (biases, batch-norm statistics, the last
    layer) stay fully random.
    """
    import torch

    shared = {}
    for key, value in state.items():
        if value.dim() >= 2 and value.numel() >= min_numel:
            row = value[:1].clone()
            shared[key] = row.expand_as(value)
        else:
            shared[key] = value
    assert all(isinstance(v, torch.Tensor) for v in shared.values())
    return shared


def _retinaface_state() -> dict:
    import torch
    from feat.face_detectors.Retinaface.Retinaface_model import RETINAFACE_R34_CFG, RetinaFace

    cfg = RETINAFACE_R34_CFG
    net = RetinaFace(cfg).eval()
    variance_xy, variance_wh = cfg["variance"]
    with torch.no_grad():
        for ssh in (net.ssh1, net.ssh2, net.ssh3):
            # conv5X5_1: input ignored, channel 0 is the constant 1.
            ssh.conv5X5_1[0].weight.zero_()
            bn = ssh.conv5X5_1[1]
            bn.running_mean.zero_(), bn.running_var.fill_(1.0), bn.weight.fill_(1.0), bn.bias.zero_()
            bn.bias[0] = 1.0
            # conv5X5_2 (3x3, zero padding): channel 0 reads the tap above (0 on
            # the first row), channel 1 the tap to the left (0 on the first column).
            conv = ssh.conv5X5_2[0].weight
            conv.zero_()
            conv[0, 0, 0, 1] = 1.0
            conv[1, 0, 1, 0] = 1.0
            bn = ssh.conv5X5_2[1]
            bn.running_mean.zero_(), bn.running_var.fill_(1.0), bn.weight.fill_(1.0), bn.bias.zero_()
        # SSH output channels: conv3X3 (out/2), then conv5X5 (out/4), then conv7X7.
        first = cfg["out_channel"] // 2
        for head in net.ClassHead._convs:
            head.weight.zero_()
            head.bias.zero_()
            head.bias[1::2] = -20.0  # every anchor: "not a face"
        for head in net.BboxHead._convs:
            head.weight.zero_()
            head.bias.zero_()
        for (x, y, w, h), (level, anchor) in zip(FAKE_FACES, _FACE_ANCHORS, strict=True):
            step, size = cfg["steps"][level], cfg["min_sizes"][level][anchor]
            score = net.ClassHead._convs[level]
            score.bias[2 * anchor + 1] = 10.0
            score.weight[2 * anchor + 1, first] = -20.0
            score.weight[2 * anchor + 1, first + 1] = -20.0
            # The top-left anchor sits at (step/2, step/2) with size `size`:
            # centre = prior + delta * variance * size, side = size * exp(delta * variance).
            box = net.BboxHead._convs[level].bias
            box[4 * anchor + 0] = (x + w / 2 - step / 2) / (variance_xy * size)
            box[4 * anchor + 1] = (y + h / 2 - step / 2) / (variance_xy * size)
            box[4 * anchor + 2] = math.log(w / size) / variance_wh
            box[4 * anchor + 3] = math.log(h / size) / variance_wh
    # Half precision halves the file; load_state_dict casts back to float32.
    return {k: v.half().contiguous() if v.is_floating_point() else v for k, v in net.state_dict().items()}


def _neutral_landmarks() -> np.ndarray:
    """py-feat's neutral face, scaled into [0.2, 0.8] of the crop, as x0, y0, x1, y1, ..."""
    import pandas as pd
    from feat.utils.io import get_resource_path

    shape = pd.read_csv(Path(get_resource_path()) / "neutral_face_coordinates.csv")[["x", "y"]].to_numpy(float)
    low, high = shape.min(axis=0), shape.max(axis=0)
    scaled = 0.2 + 0.6 * (shape - low) / (high - low).max()
    return scaled.reshape(-1).astype(np.float32)


def _mobilefacenet_state() -> dict:
    import torch
    from feat.landmark_detectors.mobilefacenet_test import MobileFaceNet
    from feat.utils import N_OPENFACE_LANDMARKS_2D_FLAT

    net = MobileFaceNet([112, 112], N_OPENFACE_LANDMARKS_2D_FLAT, device="cpu").eval()
    with torch.no_grad():
        # A small dependence on the picture keeps landmarks moving a little
        # from frame to frame; the batch norm centres them on the neutral face.
        net.output_layer.linear.weight.mul_(1e-3)
        bn = net.output_layer.bn
        bn.running_mean.zero_(), bn.running_var.fill_(1.0), bn.weight.fill_(1.0)
        bn.bias.copy_(torch.from_numpy(_neutral_landmarks()))
    return net.state_dict()


def _resmasknet_state() -> tuple[dict, dict]:
    from feat.emo_detectors.ResMaskNet.resmasknet_test import ResMasking
    from torch import nn

    config = {"in_channels": 3, "num_classes": 7}
    net = ResMasking("", in_channels=config["in_channels"])
    net.fc = nn.Sequential(nn.Dropout(0.4), nn.Linear(512, config["num_classes"]))
    return _shared_rows(net.eval().state_dict()), config


def _pose_mlp() -> tuple[dict, dict]:
    from feat.utils.face_pose_mlp import PoseMLP

    hidden, dropout = (64, 32), 0.1
    net = PoseMLP(hidden=hidden, dropout=dropout, use_layernorm=True).eval()
    meta = {
        "architecture": {
            "hidden": list(hidden),
            "dropout": dropout,
            "output_normalization": {"mean": [0.0] * 6, "std": [10.0, 10.0, 10.0, 1.0, 1.0, 1.0]},
        },
        "generated_for_tests": True,
    }
    return {k: v.contiguous() for k, v in net.state_dict().items()}, meta


def _au_model(seed: int):
    import torch
    import xgboost
    from feat.au_detectors.StatLearning.SL_test import XGBClassifier
    from feat.utils.face_mask import extract_hog_features_batched
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = 48
    crops = torch.from_numpy(rng.uniform(0, 1, size=(n, 3, 112, 112)).astype(np.float32))
    base = torch.from_numpy(_neutral_landmarks())
    landmarks = base + torch.from_numpy(rng.normal(0, 0.01, size=(n, base.numel())).astype(np.float32))
    hog, aligned = extract_hog_features_batched(crops, landmarks)
    points = np.asarray(aligned).reshape(n, -1)
    model = XGBClassifier()
    parts = {}
    for part in ("upper", "lower", "full"):
        scaler = StandardScaler().fit(hog)
        pca = PCA(n_components=8, random_state=seed).fit(scaler.transform(hog))
        parts[part] = (scaler, pca, np.concatenate([pca.transform(scaler.transform(hog)), points], axis=1))
    classifiers = {}
    for key in model.au_keys:
        if key in ("AU1", "AU2", "AU7"):
            features = parts["upper"][2]
        elif key in ("AU11", "AU14", "AU17", "AU23", "AU24", "AU26"):
            features = parts["lower"][2]
        else:
            features = parts["full"][2]
        labels = np.arange(n) % 2
        rng.shuffle(labels)
        classifiers[key] = xgboost.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(features, labels)
    model.load_weights(
        scaler_upper=parts["upper"][0],
        pca_model_upper=parts["upper"][1],
        scaler_lower=parts["lower"][0],
        pca_model_lower=parts["lower"][1],
        scaler_full=parts["full"][0],
        pca_model_full=parts["full"][1],
        classifiers=classifiers,
    )
    return model


def generate_fake_weights(target: Path, seed: int = 0) -> Path:
    """Write a complete fake py-feat weight set to ``target`` (created atomically).

    Parameters
    ----------
    target : Path
        Folder to create; it must not exist. The set is built next to it and
        renamed into place, so concurrent test sessions never see half a set.
    seed : int
        Seed of every random initialisation.

    Returns
    -------
    Path
        ``target``, holding the hub-cache layout and a manifest marked fake.
    """
    import skops.io
    import torch
    from safetensors.torch import save_file

    from facs_core.pyfeat_weights import REQUIRED_WEIGHTS, snapshot_path, write_manifest

    torch.manual_seed(seed)
    scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    scratch.mkdir(parents=True)
    try:
        files: dict[tuple[str, str], Path] = {}

        def place(repo: str, name: str) -> Path:
            path = snapshot_path(scratch, repo, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            files[(repo, name)] = path
            return path

        save_file(_retinaface_state(), place("py-feat/retinaface_r34", "model.safetensors"))
        torch.save(
            {"state_dict": _mobilefacenet_state()}, place("py-feat/mobilefacenet", "mobilefacenet_model_best.pth.tar")
        )
        skops.io.dump(_au_model(seed), place("py-feat/xgb_au", "xgb_au_classifier_v2.skops"))
        emotion, config = _resmasknet_state()
        place("py-feat/resmasknet", "config.json").write_text(json.dumps(config))
        torch.save({"net": emotion}, place("py-feat/resmasknet", "ResMaskNet_Z_resmasking_dropout1_rot30.pth"))
        pose, meta = _pose_mlp()
        save_file(pose, place("py-feat/pose_mlp_v2", "pose_mlp_v2.safetensors"))
        place("py-feat/pose_mlp_v2", "pose_mlp_v2.json").write_text(json.dumps(meta))
        assert {(w.repo, w.file) for w in REQUIRED_WEIGHTS} == set(files), "generator and REQUIRED_WEIGHTS disagree"
        write_manifest(scratch, fake=True, fake_token=uuid.uuid4().hex)
        try:
            os.rename(scratch, target)
        except OSError:
            if not (target / "manifest.json").is_file():  # another session won the race: use theirs
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
