"""YAML loading that remembers where things are, with YAML 1.2 numbers and bounded work.

Mappings come back as :class:`LocatedDict` (a ``dict`` that knows the 1-based line where it starts
and the line of each key), so every later error can point at the line of the layer or field.
Duplicate keys are an error instead of PyYAML's silent "last one wins".

The text is parsed once, and everything that could make later stages slow is refused while the
node tree is composed, before any Python object is built:

- nesting deeper than :data:`MAX_DEPTH` (PyYAML's composer and constructor are recursive);
- a list longer than :data:`MAX_ITEMS` (no spec list is longer than its layer list);
- aliases are allowed, but the document's size with every alias expanded may not exceed
  :data:`MAX_NODES` nodes (an "alias bomb" of nested references is refused in milliseconds), and an
  alias inside its own anchor (a recursive structure) is refused;
- integers of more than :data:`MAX_INT_DIGITS` digits (every size hwcnn accepts is far smaller).

Plain scalars follow the YAML 1.2 core schema, not PyYAML's YAML 1.1 resolver: ``true``/``false``
are the only booleans (``yes``, ``no``, ``on``, ``off`` are strings), ``1e-5`` is a float,
timestamps are strings. Spellings that YAML 1.1 and 1.2 read differently are refused with the field
and line instead of being reinterpreted: a leading zero (``010``: octal 8 in YAML 1.1), base 60
(``1:30``: 90 in YAML 1.1), binary ``0b1010`` and digit separators ``1_000``. Quote them to mean a
string.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from ..errors import SpecError, shorten

#: Deeper nesting than this is refused before PyYAML's recursive composer meets Python's limit.
MAX_DEPTH = 64
#: Longest YAML list accepted (the layer cap of :mod:`hwcnn.frontend.spec`; no list is longer).
MAX_ITEMS = 20_000
#: Most nodes a document may have with its aliases expanded (about what the largest file the size
#: cap admits can hold without aliases).
MAX_NODES = 250_000
#: Longest integer literal (in digits): every integer field of the schema is below 10**18.
MAX_INT_DIGITS = 18


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


class _Ambiguous(Exception):
    """A YAML 1.1 number spelling; the enclosing mapping adds the field name."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# -- YAML 1.2 core schema resolver ------------------------------------------------------------

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_YAML11 = "tag:hwcnn,2024:yaml11-number"
_DIGITS = list("-+0123456789")


class _Resolver(BaseResolver):
    """YAML 1.2 core schema for plain scalars, plus the YAML 1.1 number spellings (refused)."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}


for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:bool", r"(?:true|True|TRUE|false|False|FALSE)\Z", list("tTfF")),
    ("tag:yaml.org,2002:null", r"(?:~|null|Null|NULL|)\Z", ["~", "n", "N", ""]),
    # Refused before int/float: YAML 1.1 reads these as numbers, YAML 1.2 as 10 or as strings.
    (_YAML11, r"[-+]?0[0-9_]+\Z", _DIGITS),                                   # 010, 00
    (_YAML11, r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z", _DIGITS),  # 1:30, 1:30.5
    (_YAML11, r"[-+]?0b[0-1_]+\Z", _DIGITS),                                  # 0b1010
    (_YAML11, r"[-+]?(?:[0-9][0-9_]*)?_[0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?\Z", _DIGITS),  # 1_000
    (_INT, r"[-+]?(?:0|[1-9][0-9]*)\Z", _DIGITS),
    (_INT, r"0o[0-7]+\Z", ["0"]),
    (_INT, r"0x[0-9a-fA-F]+\Z", ["0"]),
    (_FLOAT, r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z", [*_DIGITS, "."]),
    (_FLOAT, r"[-+]?\.(?:inf|Inf|INF)\Z", list("-+.")),
    (_FLOAT, r"\.(?:nan|NaN|NAN)\Z", ["."]),
    ("tag:yaml.org,2002:merge", r"<<\Z", ["<"]),
]:
    _Resolver.add_implicit_resolver(_tag, re.compile(_regexp), _first)


# -- loader -------------------------------------------------------------------------------------


class _Loader(Reader, Scanner, Parser, Composer, SafeConstructor, _Resolver):
    """PyYAML's safe loader with the resolver above and the composition limits of this module."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0
        #: id(node) -> its size with aliases expanded (nodes stay alive in the tree while loading).
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if isinstance(parent, SequenceNode) and isinstance(index, int) and index >= MAX_ITEMS:
            raise SpecError(f"a YAML list has more than {MAX_ITEMS:,} items",
                            line=self.peek_event().start_mark.line + 1)
        container = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if container:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise SpecError(f"YAML is nested more than {MAX_DEPTH} levels deep",
                                line=self.peek_event().start_mark.line + 1)
        elif self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise SpecError(f"YAML alias *{shorten(event.anchor, quote=False)} is used inside "
                                "its own anchor (a recursive structure)", line=event.start_mark.line + 1)
        node = super().compose_node(parent, index)
        if id(node) in self._sizes:  # an alias: the anchored node, composed (and sized) before
            return node
        if container:
            self._depth -= 1
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if size > MAX_NODES:
            raise SpecError(f"the YAML document expands to more than {MAX_NODES:,} nodes "
                            "(check its aliases)", line=node.start_mark.line + 1)
        self._sizes[id(node)] = size
        return node


def _construct_mapping(loader: _Loader, node: MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    out = LocatedDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise SpecError(f"mapping keys must be strings, not {shorten(key)}", line=line)
        if key in out:
            raise SpecError(f"duplicate key {shorten(key)}", line=line)
        try:
            out[key] = loader.construct_object(value_node, deep=True)
        except _Ambiguous as exc:
            raise SpecError(f"field {shorten(key)}: {exc.message}", line=exc.line) from None
        out.key_lines[key] = line
    return out


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    text = str(node.value)
    sign = -1 if text[0] == "-" else 1
    body = text.lstrip("+-")
    base = 16 if body.startswith("0x") else 8 if body.startswith("0o") else 10
    digits = body[2:] if base != 10 else body
    if len(digits) > MAX_INT_DIGITS:
        raise SpecError(f"integer {shorten(text, quote=False)} has {len(digits):,} digits, more than the "
                        f"{MAX_INT_DIGITS} hwcnn accepts", line=node.start_mark.line + 1)
    return sign * int(digits, base)


def _construct_float(loader: _Loader, node: ScalarNode) -> float:
    text = str(node.value).lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text.endswith(".nan"):
        return float("nan")
    return float(text)


def _yaml11_value(text: str) -> int | float:
    """What YAML 1.1 (PyYAML's resolver) makes of a sexagesimal, binary or ``_``-separated number."""
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "")
    if body.startswith("0b"):
        return sign * int(body, 0)
    value: int | float = 0
    for part in body.split(":"):
        value = value * 60 + (float(part) if "." in part else int(part))
    return sign * value


def _construct_ambiguous(loader: _Loader, node: ScalarNode) -> None:
    text = str(node.value)
    shown = shorten(text)
    body = text.lstrip("+-")
    try:
        old = _yaml11_value(text) if len(text) <= 20 else None
    except ValueError:  # e.g. '+_' or '0b_': no number even in YAML 1.1
        old = None
    if body.startswith("0") and not body.startswith("0b") and ":" not in body:
        what = "has a leading zero (octal in YAML 1.1, decimal in YAML 1.2)"
        advice = "write it without the leading zero"
    elif old is None:
        what = "is spelled as a YAML 1.1 number (a string in YAML 1.2)"
        advice = "write a plain decimal number"
    else:
        kind = ("a base-60 number" if ":" in text else "a binary number" if "0b" in text
                else "a number with digit separators")
        what = f"is {kind} in YAML 1.1 ({old}) and a string in YAML 1.2"
        advice = f"write {old}"
    raise _Ambiguous(f"{shown} {what}; {advice}, or quote it for a string", node.start_mark.line + 1)


_Loader.add_constructor(BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(_INT, _construct_int)
_Loader.add_constructor(_FLOAT, _construct_float)
_Loader.add_constructor(_YAML11, _construct_ambiguous)


def load_yaml(text: str, *, file: str | None = None) -> Any:
    """Parse YAML text once; every problem becomes a one-line :class:`SpecError` with the line."""
    loader = None
    try:
        loader = _Loader(text)  # the reader checks the characters here
        return loader.get_single_data()
    except SpecError as exc:
        raise exc.located(file=file) from None
    except _Ambiguous as exc:  # a top-level scalar or a list item outside any mapping
        raise SpecError(exc.message, file=file, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and "duplicate anchor" in exc.context:
            problem = exc.context.removesuffix("; first occurrence")
        problem = shorten(problem, limit=120, quote=False)
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        problem = shorten(str(exc).splitlines()[0], limit=120, quote=False)
        raise SpecError(f"YAML error: {problem}", file=file, line=line) from None
    finally:
        if loader is not None:
            loader.dispose()
