from importlib.metadata import EntryPoint

import pytest

from gancli.architectures import Architecture
from gancli.architectures.dcgan import DCGAN
from gancli.core.registry import Plugin, Registry
from gancli.errors import RegistryError

GROUP = "gancli.architectures"


def plugin(name, value, package="gancli", version="0.1.0"):
    return Plugin(name, package, version, EntryPoint(name=name, value=value, group=GROUP))


def registry(*plugins):
    return Registry(GROUP, "architecture", Architecture, plugins)


def test_a_hand_built_entry_point_is_loaded_lazily_and_cached():
    reg = registry(plugin("dcgan", "gancli.architectures.dcgan:dcgan"),
                   plugin("dc-wide", "gancli.architectures.dcgan:DCGAN", package="wide-gans"))
    assert reg.names() == ["dc-wide", "dcgan"]
    assert reg.names("dc-*") == ["dc-wide"]
    wide = reg.get("dc-wide")
    assert isinstance(wide, DCGAN)  # a class is instantiated
    assert reg.get("dc-wide") is wide


def test_an_unknown_name_lists_the_available_ones():
    reg = registry(plugin("dcgan", "gancli.architectures.dcgan:dcgan"))
    with pytest.raises(RegistryError, match=r"unknown architecture 'stylegan'; available: dcgan"):
        reg.get("stylegan")


def test_a_misspelt_name_suggests_the_closest():
    reg = registry(plugin("dcgan", "gancli.architectures.dcgan:dcgan"), plugin("sngan", "gancli.architectures.dcgan:dcgan"))
    with pytest.raises(RegistryError, match=r"unknown architecture 'dcgn'; did you mean dcgan\? available: dcgan, sngan"):
        reg.get("dcgn")


def test_a_plugin_that_fails_to_import_names_its_package_and_spares_the_others():
    reg = registry(plugin("dcgan", "gancli.architectures.dcgan:dcgan"),
                   plugin("broken", "gancli_no_such_module:arch", package="broken-gans", version="2.0"))
    with pytest.raises(RegistryError, match=r"'broken' from package broken-gans 2.0 failed to load: ModuleNotFoundError"):
        reg.get("broken")
    rows = {p.name: (obj, error) for p, obj, error in reg.survey()}
    assert isinstance(rows["dcgan"][0], DCGAN)
    assert rows["broken"][0] is None and "gancli_no_such_module" in rows["broken"][1]


def test_an_entry_point_of_the_wrong_kind_is_refused():
    reg = registry(plugin("loss", "gancli.losses:make_loss", package="odd"))
    with pytest.raises(RegistryError, match="from package odd is a function, not a Architecture"):
        reg.get("loss")


def test_two_plugins_with_one_name_must_be_told_apart_and_a_builtin_keeps_its_name():
    reg = registry(plugin("dcgan", "gancli.architectures.dcgan:dcgan"),
                   plugin("dcgan", "gancli.architectures.dcgan:DCGAN", package="other-gans"),
                   plugin("wide", "gancli.architectures.dcgan:DCGAN", package="a-gans"),
                   plugin("wide", "gancli.architectures.dcgan:DCGAN", package="b-gans"))
    with pytest.raises(RegistryError, match="registered by both a-gans and b-gans; pick one with a-gans:wide, b-gans:wide"):
        reg.get("wide")
    assert reg.find("wide", prefer_package="b-gans").package == "b-gans"  # an architecture's own package first
    assert reg.find("dcgan").package == "gancli"  # a plugin never takes a built-in's name
    assert reg.find("other-gans:dcgan").package == "other-gans"
    assert reg.shadowed_by(reg.find("other-gans:dcgan")) == reg.find("gancli:dcgan")
    assert reg.shadowed_by(reg.find("a-gans:wide")) is None


def test_disabling_plugins_keeps_only_the_builtins(monkeypatch):
    reg = registry(plugin("dcgan", "gancli.architectures.dcgan:dcgan"),
                   plugin("extra", "gancli.architectures.dcgan:DCGAN", package="extra-gans"))
    monkeypatch.setenv("GANCLI_DISABLE_PLUGINS", "1")
    assert reg.names() == ["dcgan"]


def test_the_installed_builtins_come_through_the_entry_point_groups():
    from gancli.architectures import architectures
    from gancli.datasets import datasets

    assert architectures.find("dcgan").package == "gancli"
    assert datasets.find("synthetic").package == "gancli"
