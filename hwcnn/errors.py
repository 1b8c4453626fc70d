"""Project exceptions.

Every error a user can cause derives from :class:`HwcnnError`; the CLI prints it as one line
and exits with status 2. Anything else escaping is a bug in hwcnn.
"""

from __future__ import annotations

import reprlib

#: Longest echo of a user's value in an error message (longer ones end in "...").
ECHO_LIMIT = 40
#: Longest layer name shown in an error message (longer ones keep their head and tail).
NAME_LIMIT = 60

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 2, 3, 4, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = ECHO_LIMIT + 2


def shorten(value: object, *, limit: int = ECHO_LIMIT, quote: bool = True) -> str:
    """``repr(value)`` (or ``str`` when ``quote`` is false) cut to ``limit`` characters + ``...``.

    The work is bounded too: a huge nested value is never rendered in full.
    """
    if isinstance(value, str):
        cut = value[:limit]
        return (repr(cut) if quote else cut) + ("..." if len(value) > limit else "")
    try:
        text = _REPR.repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        text = "a huge number"
    return text if len(text) <= limit else text[:limit] + "..."


def short_name(name: str) -> str:
    """A layer name for a message: at most :data:`NAME_LIMIT` characters, head and tail kept."""
    if len(name) <= NAME_LIMIT:
        return name
    half = (NAME_LIMIT - 3) // 2
    return name[:half] + "..." + name[-(NAME_LIMIT - 3 - half):]


class HwcnnError(Exception):
    """Base class of user-facing errors (bad input, impossible configuration)."""


class SpecError(HwcnnError):
    """A network spec is malformed or describes an impossible network.

    Parameters
    ----------
    message : str
        What is wrong, without the location.
    file : str or None
        The spec file, as the user named it.
    layer : str or None
        The layer the problem belongs to.
    line : int or None
        1-based line in the YAML file where the layer (or field) starts.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.layer = layer
        self.line = line
        super().__init__(self.__str__())

    def located(self, *, file: str | None = None) -> SpecError:
        """Return a copy that names ``file`` when this error does not name one yet."""
        return SpecError(self.message, file=self.file or file, layer=self.layer, line=self.line)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        who = f"layer {short_name(self.layer)!r}: " if self.layer else ""
        return f"{where}{who}{self.message}"


class ConfigError(HwcnnError):
    """A hardware configuration, board choice or command-line option is invalid."""


class DataError(HwcnnError):
    """A weights, input or calibration file does not fit the network."""
