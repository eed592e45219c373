"""Secret values that cannot leak through repr, str, logs or exception messages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class SecretValues(Mapping[str, str]):
    """The decoded data of a Kubernetes Secret (or an environment), printable without revealing values."""

    def __init__(self, source: str, values: Mapping[str, str], *, not_text: frozenset[str] = frozenset()) -> None:
        self.source = source
        self._values = dict(values)
        self.not_text = not_text
        """Keys present in the Secret whose values are not UTF-8 text (left out of the mapping)."""

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretValues({self.source!r}, keys={sorted(self._values)})"

    __str__ = __repr__
