"""The one YAML loader for every file the node reads (config.yaml, feeds/*.yaml,
incident records).

PyYAML's safe loader keeps the last of two equal keys, so a second `readers:` in a feed
file would silently replace the first; and anchors with aliases let a few lines expand
into gigabytes (an "alias bomb"). Neither has a use in these files, so both are refused
with an error that says where. Callers add the file name and turn it into their error.
"""
from __future__ import annotations

from typing import Any

import yaml


class Refused(ValueError):
    """A YAML document this node will not read; str() says why and at which line."""


class DuplicateKey(Refused):
    def __init__(self, key: Any, line: int):
        self.key, self.line = key, line
        super().__init__(f"key '{key}' appears twice (line {line})")


class AliasRefused(Refused):
    def __init__(self, line: int):
        self.line = line
        super().__init__(f"line {line}: YAML anchors and aliases (& and *) are not allowed")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and anchors/aliases."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise AliasRefused(event.start_mark.line + 1)
        return super().compose_node(parent, index)


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping explains it
            continue
        if duplicate:
            raise DuplicateKey(key, key_node.start_mark.line + 1)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(text: str) -> Any:
    """Parse one YAML document; raises Refused, or yaml.YAMLError when it is not YAML."""
    return yaml.load(text, Loader=StrictLoader)


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any) -> str:
    """YAML text `load` reads back: never writes anchors, even for a repeated object."""
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True)
