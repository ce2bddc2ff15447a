"""Datasets: the contract, and the registry that finds built-ins and plugins alike."""

from gancli.core.registry import Registry
from gancli.core.shapes import ImageShape
from gancli.datasets.base import DataRequest, DatasetSource, Images

datasets: Registry[DatasetSource] = Registry("gancli.datasets", "dataset", DatasetSource)

__all__ = ["DataRequest", "DatasetSource", "ImageShape", "Images", "datasets"]
