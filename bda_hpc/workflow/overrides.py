"""``--set key.sub=value`` config overrides: how a sweep (or a user) changes one stage setting per run.

The driver passes each swept or fixed override to the stage command as
``--set section.key=VALUE`` with VALUE a TOML literal (``0.1``, ``true``,
``"ridge"``, ``[1, 2]``); a bare word that is not valid TOML is taken as a
string. A stage that supports sweeps adds the option and loads its section
through :func:`load_section_with_set`::

    from bda_hpc.workflow.overrides import add_set_option, load_section_with_set
    add_set_option(parser)                                   # in register()
    cfg = load_section_with_set(args.config, "model", ModelConfig, args.set)   # in the handler

Overrides are checked like the file itself: an unknown key or a wrong type is
a ConfigError naming the key.
"""
from __future__ import annotations

from pathlib import Path

import tomllib

from ..config import from_dict, read_toml
from ..errors import ConfigError


def add_set_option(parser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set model.alpha=0.1 (repeatable; TOML literal)")


def parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_set(items: list[str]) -> dict:
    """``["a.b=1", "a.c=\\"x\\""]`` -> ``{"a": {"b": 1, "c": "x"}}``."""
    tree: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a key like 'section.key'")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is set to a value and used as a table")
        node[parts[-1]] = parse_value(value.strip())
    return tree


def deep_merge(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_section_with_set(path: str | Path | None, section: str, cls, items: list[str]):
    """Like :func:`bda_hpc.config.load_section`, with the ``--set`` overrides of that section merged in."""
    data = read_toml(path) if path is not None else {}
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{section}] must be a table")
    changes = parse_set(items).get(section, {})
    source = f"{path or '<defaults>'}{' + --set' if changes else ''}:[{section}]"
    return from_dict(cls, deep_merge(table, changes), source)
