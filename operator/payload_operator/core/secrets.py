"""Secret values that cannot leak through repr, str, logs or exception messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

REDACTED = "***"


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

    def scrub(self, text: str) -> str:
        """Replace every value of this secret in `text` by a placeholder."""
        return scrub(text, self._values.values())


def scrub(text: str, values: Iterable[str]) -> str:
    """Replace each non-trivial secret value found in `text` (longest first, so overlaps stay hidden)."""
    for value in sorted((v for v in values if len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
