"""A school's configuration: :class:`SchoolSettings` (TOML and environment) and the
plugin registry that loads a host's rules and reactions from entry points."""

from eduengine.config.plugins import PLUGIN_GROUP, Plugins, load_plugins
from eduengine.config.settings import SchoolSettings, parse_duration

__all__ = ["PLUGIN_GROUP", "Plugins", "SchoolSettings", "load_plugins", "parse_duration"]
