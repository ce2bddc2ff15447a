"""Datasets read from official files on disk: finding them, fetching them, and caching the decode.

A `FileDataset` names the files each split needs (paths under the data root, exactly where
torchvision's own dataset classes keep them), where each comes from, and how to decode them.
Loading then goes: files present? else unpack a local archive, else download (when allowed),
else one clear error; then the decoded-images cache, else decode and write the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gancli.datasets.base import DataRequest, DatasetSource, Images
from gancli.datasets.cache import CACHE_FOLDER, cached_decode, source_key
from gancli.datasets.download import fetch, source_url, unpack
from gancli.errors import GancliError


class DatasetMissingError(GancliError):
    """A dataset's files are not on disk and could not be fetched."""


@dataclass(frozen=True)
class Resource:
    """One file a split needs: its path under the data root, and where it comes from.

    `archive` (a path under the data root) is what `url` serves when the file comes packed;
    the file is then the member at its path relative to the archive's folder.
    """

    path: str
    url: str
    md5: str | None
    archive: str | None = None


def quiet(_: str) -> None:
    pass


class FileDataset(DatasetSource):
    """A dataset of official files under a data root; subclasses say which files and how to decode."""

    name: str = ""
    homepage: str = ""

    def resources(self, split: str) -> list[Resource]:
        raise NotImplementedError

    def decode(self, root: Path, split: str) -> Images:
        """Read the split's files (all present) into uint8 images."""
        raise NotImplementedError

    # -- files on disk -------------------------------------------------------------------

    def missing(self, root: Path, split: str) -> list[Resource]:
        return [r for r in self.resources(split) if not (root / r.path).is_file()]

    def files_present(self, root: Path, split: str) -> bool:
        # A file still packed in its archive needs unpacking, not a download.
        return all(r.archive is not None and (root / r.archive).is_file() for r in self.missing(root, split))

    def obtain(self, root: Path, split: str, download: bool, notify: Callable[[str], None]) -> None:
        """Make every file of `split` present, or raise `DatasetMissingError` saying how."""
        failures: list[str] = []
        trying = download
        for archive, wanted in self._by_archive(self.missing(root, split)).items():
            archive_path = root / archive
            action = "downloading"
            try:
                if not archive_path.is_file():
                    if not trying:
                        continue
                    notify(f"{self.name}: downloading {source_url(wanted[0].url)}")
                    fetch(wanted[0].url, archive_path, wanted[0].md5)
                if wanted[0].archive is not None:
                    action = "unpacking"
                    unpack(archive_path, {str(Path(r.path).relative_to(Path(archive).parent)): root / r.path
                                          for r in wanted})
            except (OSError, RuntimeError, ValueError) as err:
                failures.append(f"{action} {Path(archive).name} failed: {err}")
                trying = trying and action != "downloading"  # after one failed download the rest would wait too
        still = self.missing(root, split)
        if still:
            raise DatasetMissingError(self.missing_message(root, split, still, download, failures))

    @staticmethod
    def _by_archive(resources: list[Resource]) -> dict[str, list[Resource]]:
        groups: dict[str, list[Resource]] = {}
        for resource in resources:
            groups.setdefault(resource.archive or resource.path, []).append(resource)
        return groups

    def missing_message(self, root: Path, split: str, missing: list[Resource], download: bool,
                        failures: list[str]) -> str:
        names = ", ".join(r.path for r in missing)
        sources = ", ".join(sorted({r.url for r in missing}))
        if not download:
            why = "downloads are off (--no-download)"
        elif failures:
            why = "; ".join(" ".join(f.split()) for f in failures)
        else:
            why = "they could not be fetched"
        wanted = ", ".join(sorted({r.archive or r.path for r in missing}))
        return (f"dataset '{self.name}' split '{split}': files not found in {root}: expected {names}; "
                f"{why}. Put {wanted} from {sources} (see {self.homepage}) in {root}, or run with "
                f"network access and --download")

    # -- loading -------------------------------------------------------------------------

    def load(self, request: DataRequest) -> Images:
        notify = request.notify or quiet
        root = request.root
        self.obtain(root, request.split, request.download, notify)
        sources = [root / r.path for r in self.resources(request.split)]
        cache = root / CACHE_FOLDER / f"{self.name}-{request.split}.safetensors"
        return cached_decode(cache, source_key(sources), lambda: self.decode_or_explain(root, request.split),
                             f"{self.name} {request.split}", notify)

    def decode_or_explain(self, root: Path, split: str) -> Images:
        try:
            return self.decode(root, split)
        except Exception as err:  # each reader fails in its own way on a damaged or foreign file
            names = ", ".join(r.path for r in self.resources(split))
            raise GancliError(f"dataset '{self.name}' split '{split}': cannot read {names} in {root} "
                              f"({type(err).__name__}: {err}); replace the damaged file with the official "
                              f"one from {self.homepage}, or delete it to download it again") from err

