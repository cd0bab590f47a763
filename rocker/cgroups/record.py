"""`Record`: a small immutable record base class, in place of frozen dataclasses.

`dataclasses` imports inspect, ast, dis and tokenize (about 3 MB and several milliseconds):
too much for the per-container monitor, which imports rocker.cgroups and aims at a small RSS.
A subclass lists its fields in `__slots__` (in order) and their defaults in `_defaults`; it gets
keyword or positional construction, immutability, ==, hash, repr, `replace(**changes)` and
`to_dict()`. Fields named in `_no_compare` take no part in == and hash (and none in repr).
"""

from __future__ import annotations

_MISSING = object()


class Record:
    __slots__ = ()
    _defaults: dict = {}
    _no_compare: tuple = ()
    _factories: dict = {}
    """field -> a callable that makes the default (for mutable defaults like {})."""

    def __init__(self, *args, **kw) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} positional "
                            f"arguments ({len(args)} given)")
        setter = object.__setattr__
        for name, value in zip(names, args):
            if name in kw:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            setter(self, name, value)
        for name in names[len(args):]:
            value = kw.pop(name, _MISSING)
            if value is _MISSING:
                if name in self._factories:
                    value = self._factories[name]()
                elif name in self._defaults:
                    value = self._defaults[name]
                else:
                    raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
            setter(self, name, value)
        if kw:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{next(iter(kw))!r}")

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is "
                             "immutable (use replace())")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

    def _key(self) -> tuple:
        return tuple(getattr(self, n) for n in self.__slots__ if n not in self._no_compare)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self):
        return hash(tuple(v if not isinstance(v, dict) else None for v in self._key()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__
                          if n not in self._no_compare)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self):
        return (type(self), tuple(getattr(self, n) for n in self.__slots__))

    def replace(self, **changes):
        """A copy with the given fields changed (like dataclasses.replace)."""
        kw = {n: getattr(self, n) for n in self.__slots__}
        for k in changes:
            if k not in kw:
                raise TypeError(f"{type(self).__name__} has no field {k!r}")
        kw.update(changes)
        return type(self)(**kw)

    def as_dict(self) -> dict:
        """Every field (like dataclasses.asdict, without the deep copy)."""
        return {n: getattr(self, n) for n in self.__slots__}
