"""YAML loading that remembers where things are.

Mappings come back as :class:`LocatedDict` (a ``dict`` that knows the 1-based line where it starts
and the line of each key), so every later error can point at the line of the layer or field.
Duplicate keys are an error instead of PyYAML's silent "last one wins".
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import SpecError


class LocatedDict(dict[str, Any]):
    """A dict from YAML with ``line`` (where the mapping starts) and ``key_lines``."""

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}

    def line_of(self, key: str) -> int | None:
        """Line of ``key`` if present, else the line of the mapping itself."""
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    out = LocatedDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise SpecError(f"mapping keys must be strings, not {key!r}", line=key_node.start_mark.line + 1)
        if key in out:
            raise SpecError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError as exc:  # e.g. Python's limit on the digits of an integer literal
        raise SpecError(f"integer {node.value[:20]!r}... is too long: {str(exc).splitlines()[0]}",
                        line=node.start_mark.line + 1) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)

#: Deeper nesting than this is refused before PyYAML's recursive composer meets Python's limit.
MAX_DEPTH = 64


def _check_depth(text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"YAML is nested more than {MAX_DEPTH} levels deep",
                                line=event.start_mark.line + 1)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def load_yaml(text: str, *, file: str | None = None) -> Any:
    """Parse YAML text; syntax errors become a one-line :class:`SpecError` with the line."""
    try:
        _check_depth(text)
        return yaml.load(text, Loader=_Loader)
    except SpecError as exc:
        raise exc.located(file=file) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise SpecError(f"YAML error: {str(exc).splitlines()[0]}", file=file, line=line) from None
