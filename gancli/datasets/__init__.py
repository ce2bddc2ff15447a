"""Datasets: the contract, and the registry that finds built-ins and plugins alike."""

from gancli.datasets.base import DataRequest, DatasetSource, Images
from gancli.registry import Registry

datasets: Registry[DatasetSource] = Registry("gancli.datasets", "dataset", DatasetSource)

__all__ = ["DataRequest", "DatasetSource", "Images", "datasets"]
