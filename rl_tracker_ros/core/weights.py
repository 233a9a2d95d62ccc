"""Backbone weights: reading the real upstream formats, the project's cache, and lookup.

Upstream formats read here:
- MatConvNet ``imagenet-vgg-m.mat`` (simplenn: a cell array ``layers`` of structs with
  ``name``, ``type``, ``weights = {filters HxWxIxO, biases}``, ``param`` for LRN);
- py-MDNet ``.pth`` (a dict with ``shared_layers``: ``conv{1,2,3}.0.{weight,bias}``);
- TF.js layers models (``model.json`` + raw little-endian float32 shards listed in its
  ``weightsManifest``), as Google hosts MobileNetV1.

Each is converted once into the project's cache file (``<name>.pt``: a plain
``torch.save`` dict of tensors and metadata, read back with ``weights_only=True``).

Lookup order for a backbone name: explicit path > ``$RL_TRACKER_WEIGHTS`` (a file) >
``$RL_TRACKER_WEIGHTS_DIR/<name>.pt`` > the user cache dir (``platformdirs``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from .backbones import Backbone, VGGM, MobileNetV1, build_backbone

log = logging.getLogger(__name__)

CACHE_FORMAT = "rl_tracker_ros.weights"
CACHE_VERSION = 1
REGISTRY: Dict[str, dict] = json.loads((Path(__file__).with_name("weights_registry.json")).read_text())
BN_EPS = 1e-3  # Keras BatchNormalization default, as in MobileNetV1


class WeightsError(RuntimeError):
    """Weights are missing, unreadable or do not fit; the message says how to get them."""


def how_to_get(name: str) -> str:
    return (f"get them with `rl-tracker weights download {name}` (needs internet) or "
            f"`rl-tracker weights import PATH` from a local copy, or pass an explicit weights path")


# ----------------------------------------------------------------------------- locations
def cache_dir() -> Path:
    env = os.environ.get("RL_TRACKER_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("rl_tracker_ros")) / "weights"


def cache_path(name: str) -> Path:
    return cache_dir() / f"{name}.pt"


def resolve_weights(name: str, explicit: Optional[str] = None) -> Path:
    """The weights file to use for backbone ``name`` (see module doc for the order)."""
    for candidate, origin in ((explicit, "explicit path"), (os.environ.get("RL_TRACKER_WEIGHTS"), "$RL_TRACKER_WEIGHTS")):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.exists():
                raise WeightsError(f"weights {origin} {p} does not exist; {how_to_get(name)}")
            return p
    p = cache_path(name)
    if not p.exists():
        raise WeightsError(f"no weights for backbone {name!r} at {p}; {how_to_get(name)}")
    return p


def check_weights_name(path: Path) -> None:
    """Refuse a path no reader could take, from its name alone (nothing is read), so a
    setting that can never load is refused when it is made, not at the next init box."""
    path = Path(path)
    if not (path.is_dir() or path.name.endswith(".json") or path.suffix.lower() in (".mat", ".pt", ".pth")):
        raise WeightsError(f"{path}: unknown weights format (expected .mat, .pth, .pt, model.json or a TF.js folder)")


# ----------------------------------------------------------------------------- readers
def detect_format(path: Path) -> str:
    path = Path(path)
    if path.is_dir() or path.name.endswith(".json"):
        return "tfjs"
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return "matconvnet"
    if suffix in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt or not a torch file
            raise WeightsError(f"{path} is not a readable torch file ({exc})") from exc
        if isinstance(obj, dict) and obj.get("format") == CACHE_FORMAT:
            return "cache"
        if isinstance(obj, dict) and "shared_layers" in obj:
            return "mdnet_pth"
        raise WeightsError(f"{path}: a torch file but neither a rl_tracker_ros cache file nor a py-MDNet model")
    raise WeightsError(f"{path}: unknown weights format (expected .mat, .pth, .pt, model.json or a TF.js folder)")


def _lrn_from_layer(layer) -> Tuple[float, float, float, float]:
    param = np.asarray(getattr(layer, "param", [5, 2, 1e-4, 0.75]), dtype=np.float64).reshape(-1)
    return tuple(float(v) for v in param[:4])


def read_matconvnet(path: Path) -> Tuple[str, Dict[str, torch.Tensor], dict]:
    """VGG-M conv1-3 (and the first LRN's parameters) from a MatConvNet simplenn file."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as exc:
        raise WeightsError(f"{path} is not a readable MatConvNet .mat file ({exc}); {how_to_get('vggm')}") from exc
    layers = mat.get("layers")
    if layers is None and "net" in mat:
        layers = getattr(mat["net"], "layers", None)
    if layers is None:
        raise WeightsError(f"{path}: no 'layers' cell array; not a MatConvNet simplenn model")
    by_name = {str(getattr(l, "name", "")): l for l in np.atleast_1d(layers)}
    state: Dict[str, torch.Tensor] = {}
    for conv in ("conv1", "conv2", "conv3"):
        layer = by_name.get(conv)
        if layer is None:
            raise WeightsError(f"{path}: layer {conv} not found (have {sorted(by_name)[:8]}...)")
        filters, biases = np.atleast_1d(layer.weights)[:2]
        w = torch.from_numpy(np.ascontiguousarray(np.asarray(filters, dtype=np.float32).transpose(3, 2, 0, 1)))
        state[f"{conv}.weight"] = w
        state[f"{conv}.bias"] = torch.from_numpy(np.asarray(biases, dtype=np.float32).reshape(-1).copy())
    norm = by_name.get("norm1")
    meta = {"lrn": list(_lrn_from_layer(norm)) if norm is not None else [5, 2.0, 1e-4, 0.75]}
    return "vggm", state, meta


def read_mdnet_pth(path: Path) -> Tuple[str, Dict[str, torch.Tensor], dict]:
    """conv1-3 of a py-MDNet model (``shared_layers`` state dict)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    shared = obj["shared_layers"]
    state = {}
    for conv in ("conv1", "conv2", "conv3"):
        for kind in ("weight", "bias"):
            key = f"{conv}.0.{kind}"
            if key not in shared:
                raise WeightsError(f"{path}: shared_layers lacks {key}")
            state[f"{conv}.{kind}"] = shared[key].float().clone()
    return "vggm", state, {"lrn": [5, 2.0, 1e-4, 0.75]}


def _read_tfjs_tensors(model_json: Path, wanted: set) -> Dict[str, np.ndarray]:
    """The named tensors of a TF.js layers model, reading only the shards that hold them."""
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    out = {}
    for group in manifest:
        names = [w["name"] for w in group["weights"]]
        if not wanted.intersection(names):
            continue
        paths = [model_json.parent / p for p in group["paths"]]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise WeightsError(f"TF.js shard(s) {missing} needed for {sorted(wanted.intersection(names))[:3]} are missing")
        buf = b"".join(p.read_bytes() for p in paths)
        offset = 0
        for w in group["weights"]:
            if w.get("dtype", "float32") != "float32":
                raise WeightsError(f"{w['name']}: dtype {w['dtype']} not supported (float32 only)")
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            nbytes = 4 * count
            if offset + nbytes > len(buf):
                raise WeightsError(f"TF.js shard for {w['name']} is truncated ({len(buf)} bytes)")
            out[w["name"]] = np.frombuffer(buf, dtype="<f4", count=count, offset=offset).reshape(w["shape"]).copy()
            offset += nbytes
    absent = wanted - set(out)
    if absent:
        raise WeightsError(f"{model_json}: tensors {sorted(absent)[:4]} are not in the manifest")
    return out


def _fold_bn(kernel_oihw: np.ndarray, bn: Dict[str, np.ndarray]) -> Tuple[torch.Tensor, torch.Tensor]:
    scale = bn["gamma"] / np.sqrt(bn["moving_variance"] + BN_EPS)
    w = kernel_oihw * scale.reshape(-1, 1, 1, 1)
    b = bn["beta"] - bn["moving_mean"] * scale
    return torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)), torch.from_numpy(b.astype(np.float32))


def read_tfjs_mobilenet(path: Path, depth: int = 11) -> Tuple[str, Dict[str, torch.Tensor], dict]:
    """MobileNetV1 up to conv_pw_{depth}, BatchNorm folded into conv weight and bias."""
    path = Path(path)
    model_json = path / "model.json" if path.is_dir() else path
    if not model_json.exists():
        raise WeightsError(f"{model_json} not found; {how_to_get('mobilenet')}")
    try:
        json.loads(model_json.read_text())["weightsManifest"]
    except Exception as exc:
        raise WeightsError(f"{model_json} is not a TF.js model.json ({exc})") from exc
    layers = ["conv1"] + [f"conv_{k}_{i}" for i in range(1, depth + 1) for k in ("dw", "pw")]
    bn_keys = ("gamma", "beta", "moving_mean", "moving_variance")
    kernel_name = {l: f"{l}/depthwise_kernel" if l.startswith("conv_dw") else f"{l}/kernel" for l in layers}
    wanted = set(kernel_name.values()) | {f"{l}_bn/{k}" for l in layers for k in bn_keys}
    t = _read_tfjs_tensors(model_json, wanted)
    state = {}
    for l in layers:
        k = t[kernel_name[l]]
        oihw = k.transpose(2, 3, 0, 1) if l.startswith("conv_dw") else k.transpose(3, 2, 0, 1)
        w, b = _fold_bn(oihw, {key: t[f"{l}_bn/{key}"] for key in bn_keys})
        if l == "conv1":
            target = "conv1"
        else:
            kind, idx = l.split("_")[1], int(l.split("_")[2]) - 1
            target = f"{kind}.{idx}"
        state[f"{target}.weight"], state[f"{target}.bias"] = w, b
    return "mobilenet", state, {"depth": depth}


def read_any(path: Path, fmt: Optional[str] = None) -> Tuple[str, Dict[str, torch.Tensor], dict]:
    """Read weights of any supported format into (arch, state_dict, meta)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "cache":
        return load_cache(path)
    return {"matconvnet": read_matconvnet, "mdnet_pth": read_mdnet_pth, "tfjs": read_tfjs_mobilenet}[fmt](path)


# ----------------------------------------------------------------------------- cache file
def save_cache(dest: Path, arch: str, state: Dict[str, torch.Tensor], meta: dict, source: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "arch": arch, "meta": meta,
               "source": source, "state_dict": {k: v.contiguous() for k, v in state.items()}}
    tmp = dest.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, dest)
    return dest


def load_cache(path: Path) -> Tuple[str, Dict[str, torch.Tensor], dict]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"weights file {path} is corrupt or unreadable ({exc}); re-import or re-download it") from exc
    if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT:
        raise WeightsError(f"{path} is not a rl_tracker_ros weights file")
    state = obj["state_dict"]
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"weights file {path} holds non-finite values in {bad[:3]}; it is corrupt, re-import it")
    return obj["arch"], state, obj.get("meta", {})


def load_backbone(name: str, explicit: Optional[str] = None, allow_random: bool = False) -> Backbone:
    """The frozen trunk for backbone ``name``, or a loud random one if explicitly allowed."""
    if name not in REGISTRY:
        raise WeightsError(f"unknown backbone {name!r}; known: {', '.join(REGISTRY)}")
    arch = REGISTRY[name]["arch"]
    try:
        path = resolve_weights(name, explicit)
    except WeightsError:
        if not allow_random:
            raise
        banner = f"RANDOM BACKBONE: no weights for {name!r}; tracking with an untrained random trunk (allow_random_backbone=True)"
        log.warning("!" * 20 + " " + banner + " " + "!" * 20)
        with torch.random.fork_rng(devices=[]):  # a fixed random trunk, global RNG untouched
            torch.manual_seed(0)
            return (VGGM() if arch == "vggm" else MobileNetV1()).freeze()
    file_arch, state, meta = read_any(path)
    if file_arch != arch:
        raise WeightsError(f"{path} holds {file_arch} weights but backbone {name!r} needs {arch}")
    try:
        return build_backbone(arch, state, meta)
    except (ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: {exc}") from exc


# ----------------------------------------------------------------------------- import / download
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_weights(path: Path, name: Optional[str] = None) -> Path:
    """Convert a local upstream file into the cache as ``name`` (default: from its format)."""
    arch, state, meta = read_any(Path(path))
    if name is None:
        fmt = detect_format(Path(path))
        name = {"tfjs": "mobilenet", "matconvnet": "vggm", "mdnet_pth": "mdnet"}.get(fmt, arch)
    if name in REGISTRY and REGISTRY[name]["arch"] != arch:
        raise WeightsError(f"{path} holds {arch} weights, not {REGISTRY[name]['arch']} as {name!r} needs")
    build_backbone(arch, state, meta)  # refuse to cache weights that do not fit
    return save_cache(cache_path(name), arch, state, meta, source=str(Path(path).resolve()))


def _fetch(url: str, dest: Path, expected_sha256: Optional[str], progress: bool) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=60) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with open(dest, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                                         disable=not progress) as bar:
            for block in iter(lambda: resp.read(1 << 16), b""):
                f.write(block)
                bar.update(len(block))
    digest = sha256_of(dest)
    if expected_sha256 and digest != expected_sha256:
        dest.unlink()
        raise WeightsError(f"{url}: sha256 {digest} does not match the pinned {expected_sha256}; download refused")
    if not expected_sha256:
        log.warning("%s has no pinned checksum upstream; downloaded file sha256 %s", dest.name, digest)


def download_weights(name: str, base_url: Optional[str] = None, progress: bool = True) -> Path:
    """Download backbone ``name`` from its official URL, check sha256, convert into the cache.

    For TF.js models only the shards the trunk needs are fetched. ``base_url`` overrides
    the host (a mirror, or ``file://`` in tests).
    """
    if name not in REGISTRY:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    base = (base_url or entry["base_url"]).rstrip("/") + "/"
    with tempfile.TemporaryDirectory(prefix="rl_tracker_dl_") as tmp:
        tmpdir = Path(tmp)
        files = entry["files"]
        if entry["format"] == "tfjs":
            _fetch(base + "model.json", tmpdir / "model.json", files.get("model.json"), progress)
            manifest = json.loads((tmpdir / "model.json").read_text())["weightsManifest"]
            needed = _tfjs_groups_for_trunk(manifest)
            for rel in needed:
                _fetch(base + rel, tmpdir / rel, files.get(rel), progress)
            src = tmpdir / "model.json"
        else:
            (fname, sha), = files.items()
            _fetch(base + fname, tmpdir / fname, sha, progress)
            src = tmpdir / fname
        arch, state, meta = read_any(src, entry["format"])
        build_backbone(arch, state, meta)
        return save_cache(cache_path(name), arch, state, meta, source=base)


def _tfjs_groups_for_trunk(manifest: List[dict], depth: int = 11) -> List[str]:
    prefixes = ["conv1"] + [f"conv_{k}_{i}" for i in range(1, depth + 1) for k in ("dw", "pw")]
    out = []
    for group in manifest:
        if any(w["name"].split("/")[0].removesuffix("_bn") in prefixes for w in group["weights"]):
            out.extend(group["paths"])
    return out


def list_weights() -> List[dict]:
    rows = []
    for name, entry in REGISTRY.items():
        p = cache_path(name)
        rows.append({"name": name, "arch": entry["arch"], "cached": p.exists(), "path": str(p),
                     "description": entry["description"]})
    return rows


__all__ = ["WeightsError", "load_backbone", "import_weights", "download_weights", "list_weights",
           "read_any", "resolve_weights", "cache_path", "cache_dir", "sha256_of"]
