"""How each provider spells, identifies and compares lifecycle rules (pure).

Ownership marks:
    S3     rule ID    eps-<uid8>-<sha8(prefix)>-<namespace>.<name>   (cut at 255 characters)
    Azure  rule name  eps<uid8><sha8(prefix)><namespace+name, alphanumerics only>   (cut at 255)
    GCS    rules carry no ID: a bucket label eps-<uid8>-<sha8(prefix)> records the claim, and our
           rule is the Delete rule whose matchesPrefix is exactly [prefix]
Azure's documentation allows only alphanumerics in rule names, hence the second spelling.

Comparison goes through `canonical`, which forgets what servers add or reorder on their own
(legacy `Prefix` vs `Filter.Prefix`, RGW's generated IDs and sorting, `enabled` defaulting to true,
float days) so a re-read never looks like drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from payload_operator.planning.bucket_rules import Claim, DesiredRule, Owner, Rule, RuleSet, digest, overlaps

ID_LIMIT = 255
_ANCESTOR_DIGEST = 6
_MAX_ANCESTORS = 9  # 9 six-digit digests and 8 dashes fit GCS's 63-character label values


def _normal(value: Any) -> Any:
    """JSON-like value with empty members dropped, lists sorted and integral floats as ints."""
    if isinstance(value, Mapping):
        items = ((k, _normal(v)) for k, v in value.items())
        return {k: v for k, v in items if v not in (None, [], {})}
    if isinstance(value, list | tuple):
        return sorted((_normal(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _comparable(value: Any) -> str:
    return json.dumps(_normal(value), sort_keys=True, default=str)


@dataclass(frozen=True)
class ExactClaim:
    """A claim whose prefixes are spelled out in the rule (S3, Azure)."""

    owner: str
    rule_id: str
    prefixes: tuple[str, ...]

    def overlaps(self, prefix: str) -> bool:
        """Whether any claimed prefix and `prefix` select a common key."""
        return any(overlaps(p, prefix) for p in self.prefixes)


def ancestors(prefix: str) -> list[str]:
    """The directory prefixes above a slash-terminated prefix, nearest first ("a/b/c/" -> "a/b/", "a/")."""
    parts = prefix.rstrip("/").split("/")[:-1]
    return ["/".join(parts[:n]) + "/" for n in range(len(parts), 0, -1)]


@dataclass(frozen=True)
class HashedClaim:
    """A GCS ownership label: the claimed prefix is known by its digest and its ancestors' digests."""

    owner: str
    rule_id: str
    digest: str
    ancestor_digests: tuple[str, ...]

    def overlaps(self, prefix: str) -> bool:
        """Equal prefixes, or one an ancestor directory of the other (within nine levels)."""
        if self.digest == digest(prefix) or self.digest in {digest(a) for a in ancestors(prefix)}:
            return True
        return digest(prefix, _ANCESTOR_DIGEST) in self.ancestor_digests


class S3Dialect:
    """S3 and S3-compatible lifecycle configurations (boto3 shapes)."""

    provider = "S3"
    max_rules = 1000
    _OWNED = re.compile(r"^eps-([0-9a-f]{8})-[0-9a-f]{8}(?:-|$)")

    def scope(self, key_prefix: str) -> str:
        """Keys are the prefix."""
        return key_prefix

    def rule_id(self, owner: Owner, prefix: str, /) -> str:
        """eps-<uid8>-<sha8>-<namespace>.<name>."""
        return f"eps-{owner.short_uid}-{digest(prefix)}-{owner.namespace}.{owner.name}"[:ID_LIMIT]

    def encode(self, rule: DesiredRule, rule_id: str, /, *, enabled: bool) -> Rule:
        """A Filter.Prefix expiration rule, with the multipart abort when asked."""
        encoded: dict[str, Any] = {
            "ID": rule_id,
            "Filter": {"Prefix": rule.prefix},
            "Status": "Enabled" if enabled else "Disabled",
            "Expiration": {"Days": rule.expiration_days},
        }
        if rule.abort_multipart_days:
            encoded["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule.abort_multipart_days}
        return encoded

    def canonical(self, rule: Rule) -> object:
        """Legacy rule-level Prefix and an empty or prefix-only filter mean the same Filter.Prefix."""
        normal = dict(rule)
        legacy = normal.pop("Prefix", None)
        found = dict(normal.pop("Filter", None) or {})
        if set(found.get("And") or {}) == {"Prefix"}:
            found = {"Prefix": found["And"]["Prefix"]}
        if set(found) <= {"Prefix"}:
            normal["Filter"] = {"Prefix": found.get("Prefix", legacy or "")}
        else:
            normal["Filter"] = found
            normal["Prefix"] = legacy
        expiration = {k: v for k, v in (normal.get("Expiration") or {}).items() if v is not False}
        normal["Expiration"] = expiration
        if (normal.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation") == 0:
            normal.pop("AbortIncompleteMultipartUpload")
        return _comparable(normal)

    def owned_id(self, rule: Rule, owner: Owner, _labels: Mapping[str, str], _known: frozenset[str], /) -> str | None:
        """Ours when the ID carries our uid."""
        rule_id = str(rule.get("ID") or "")
        match = self._OWNED.match(rule_id)
        return rule_id if match and match.group(1) == owner.short_uid else None

    def prefix_of(self, rule: Rule) -> str:
        """Filter.Prefix, Filter.And.Prefix or the legacy Prefix; "" (everything) when none."""
        found = rule.get("Filter") or {}
        prefix = found.get("Prefix", (found.get("And") or {}).get("Prefix", rule.get("Prefix")))
        return str(prefix or "")

    def claims(self, current: RuleSet) -> list[Claim]:
        """Every rule whose ID names an owner."""
        found: list[Claim] = []
        for rule in current.rules:
            match = self._OWNED.match(str(rule.get("ID") or ""))
            if match:
                found.append(ExactClaim(match.group(1), str(rule["ID"]), (self.prefix_of(rule),)))
        return found

    def labels(self, current: Mapping[str, str], _owner: Owner, _prefixes: Sequence[str], /) -> dict[str, str]:
        """S3 rules carry their owner; no labels."""
        return dict(current)


class AzureDialect:
    """Azure Storage management-policy rules (ARM JSON); prefixes start with the container name."""

    provider = "Azure"
    max_rules = 100
    _OWNED = re.compile(r"^eps([0-9a-f]{8})[0-9a-f]{8}")

    def __init__(self, container: str) -> None:
        self.container = container

    def scope(self, key_prefix: str) -> str:
        """<container>/<key prefix>, as prefixMatch requires."""
        return f"{self.container}/{key_prefix}"

    def rule_id(self, owner: Owner, prefix: str, /) -> str:
        """eps<uid8><sha8><namespace+name>, alphanumerics only."""
        readable = re.sub(r"[^A-Za-z0-9]", "", owner.namespace + owner.name)
        return f"eps{owner.short_uid}{digest(prefix)}{readable}"[:ID_LIMIT]

    def encode(self, rule: DesiredRule, rule_id: str, /, *, enabled: bool) -> Rule:
        """Delete block blobs under the prefix some days after their last modification."""
        return {
            "enabled": enabled,
            "name": rule_id,
            "type": "Lifecycle",
            "definition": {
                "filters": {"blobTypes": ["blockBlob"], "prefixMatch": [rule.prefix]},
                "actions": {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": rule.expiration_days}}},
            },
        }

    def canonical(self, rule: Rule) -> object:
        """A rule without `enabled` is enabled."""
        return _comparable({"enabled": True, **rule})

    def owned_id(self, rule: Rule, owner: Owner, _labels: Mapping[str, str], _known: frozenset[str], /) -> str | None:
        """Ours when the name carries our uid."""
        name = str(rule.get("name") or "")
        match = self._OWNED.match(name)
        return name if match and match.group(1) == owner.short_uid else None

    def prefix_of(self, rule: Rule) -> str:
        """The first prefixMatch entry; "" (the whole account) when none."""
        return self._prefixes(rule)[0]

    def claims(self, current: RuleSet) -> list[Claim]:
        """Every rule whose name names an owner."""
        found: list[Claim] = []
        for rule in current.rules:
            match = self._OWNED.match(str(rule.get("name") or ""))
            if match:
                found.append(ExactClaim(match.group(1), str(rule["name"]), self._prefixes(rule)))
        return found

    def labels(self, current: Mapping[str, str], _owner: Owner, _prefixes: Sequence[str], /) -> dict[str, str]:
        """Azure rules carry their owner; no labels."""
        return dict(current)

    @staticmethod
    def _prefixes(rule: Rule) -> tuple[str, ...]:
        filters = (rule.get("definition") or {}).get("filters") or {}
        return tuple(filters.get("prefixMatch") or ()) or ("",)


class GcsDialect:
    """GCS bucket lifecycle rules (JSON API shapes); ownership lives in bucket labels."""

    provider = "GCS"
    max_rules = 100  # the limit usually cited; not confirmed in Google's public documentation
    _LABEL = re.compile(r"^eps-([0-9a-f]{8})-([0-9a-f]{8})$")

    def scope(self, key_prefix: str) -> str:
        """Keys are the prefix."""
        return key_prefix

    def rule_id(self, _owner: Owner, prefix: str, /) -> str:
        """GCS rules have no ID: the prefix names ours."""
        return prefix

    def encode(self, rule: DesiredRule, _rule_id: str, /, *, enabled: bool) -> Rule | None:
        """A Delete rule on exactly this prefix; a disabled rule does not exist (the label is the claim)."""
        if not enabled:
            return None
        condition = {"age": rule.expiration_days, "matchesPrefix": [rule.prefix]}
        return {"action": {"type": "Delete"}, "condition": condition}

    def canonical(self, rule: Rule) -> object:
        """Order and empty members do not count."""
        return _comparable(rule)

    def owned_id(self, rule: Rule, owner: Owner, labels: Mapping[str, str], known: frozenset[str], /) -> str | None:
        """Ours: a Delete rule on exactly one prefix that we labelled or want, and nobody else labelled."""
        prefix = self._single_prefix(rule)
        if prefix is None:
            return None
        holders = {uid for uid, d, _ in self._parsed(labels) if d == digest(prefix)}
        if holders - {owner.short_uid}:
            return None
        return prefix if owner.short_uid in holders or prefix in known else None

    def prefix_of(self, rule: Rule) -> str:
        """The single matchesPrefix entry."""
        return self._single_prefix(rule) or ""

    def claims(self, current: RuleSet) -> list[Claim]:
        """Every ownership label."""
        return [
            HashedClaim(uid, key, d, tuple(filter(None, value.split("-"))))
            for uid, d, (key, value) in self._parsed(current.labels)
        ]

    def labels(self, current: Mapping[str, str], owner: Owner, prefixes: Sequence[str], /) -> dict[str, str]:
        """Foreign labels untouched; ours exactly one per prefix held."""
        kept = {k: v for k, v in current.items() if not self._is_owners(k, owner)}
        ours = {f"eps-{owner.short_uid}-{digest(p)}": self.label_value(p) for p in prefixes}
        return kept | ours

    @staticmethod
    def label_value(prefix: str) -> str:
        """Digests of the nearest ancestors, so an owner of an ancestor prefix can see the overlap."""
        return "-".join(digest(a, _ANCESTOR_DIGEST) for a in ancestors(prefix)[:_MAX_ANCESTORS])

    def _is_owners(self, key: str, owner: Owner) -> bool:
        match = self._LABEL.match(key)
        return bool(match and match.group(1) == owner.short_uid)

    def _parsed(self, labels: Mapping[str, str]) -> list[tuple[str, str, tuple[str, str]]]:
        found = []
        for key, value in labels.items():
            match = self._LABEL.match(key)
            if match:
                found.append((match.group(1), match.group(2), (key, value or "")))
        return found

    @staticmethod
    def _single_prefix(rule: Rule) -> str | None:
        action = rule.get("action") or {}
        prefixes = (rule.get("condition") or {}).get("matchesPrefix") or []
        if action.get("type") != "Delete" or len(prefixes) != 1:
            return None
        return str(prefixes[0])
