"""Which bucket lifecycle rules a resource owns and how they merge into a shared rule set.

Pure: no I/O, no clock. Every provider's write replaces the bucket's whole rule set, and other
people's rules live in it too, so a resource never owns the set, only the rules it recognises as its
own (by an ID naming the owner, or on GCS by an ownership label). Everything else is carried over
exactly as read. Provider shapes (rule dicts, ID spelling, server defaults) live in
`lifecycle_dialects`; this module decides what to write.

Safety comes first: a prefix that could reach the payload objects (<root>/avro/), the quarantine
(<root>/quarantine/) or anything outside <root>/ is refused, and a refused plan writes nothing. So is
a prefix with an `avro` or `quarantine` segment at any depth (another resource's root may sit there).
A prefix overlapping the root of another ExternalPayloadStorage on the same bucket is withdrawn: never
written, and our rule on it removed (it may predate the other resource).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from payload_operator.api.spec import Driver, ExternalPayloadStorageSpec, LifecycleMode
from payload_operator.planning.keys import PAYLOAD_DIR, QUARANTINE_DIR, root

Rule = Mapping[str, Any]
"""One rule in its provider's native shape (a boto3 dict, a GCS JSON rule, an ARM JSON rule)."""

PROTECTED_DIRS = (PAYLOAD_DIR, QUARANTINE_DIR)
PROTECTED_SEGMENTS = frozenset(d.rstrip("/") for d in PROTECTED_DIRS)
UNSAFE_PREFIX = "UnsafePrefix"
OVERLAPS_OTHER_ROOT = "OverlapsOtherRoot"
TOO_MANY_RULES = "TooManyRules"


def digest(text: str, length: int = 8) -> str:
    """A short stable hash of a prefix: rule IDs and ownership labels name prefixes by it."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def overlaps(a: str, b: str) -> bool:
    """Whether two key prefixes select a common key (one starts with the other)."""
    return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class Owner:
    """The resource owning rules; the short uid tells two resources of the same name apart."""

    namespace: str
    name: str
    short_uid: str


@dataclass(frozen=True)
class RuleSet:
    """What a bucket holds: its rules and, on GCS only, its labels (where ownership is recorded)."""

    rules: tuple[Rule, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredRule:
    """A rule this resource wants: expire objects under `prefix` (provider-scoped) after some days."""

    prefix: str
    expiration_days: int
    abort_multipart_days: int


@dataclass(frozen=True)
class Refusal:
    """Why nothing may be written; `reason` is a condition reason word."""

    reason: str
    message: str


@dataclass(frozen=True)
class Conflict:
    """Another resource's rule or claim overlapping one of our prefixes."""

    prefix: str
    other_owner: str
    other_rule: str


@dataclass(frozen=True)
class PlannedRule:
    """One of our rules: as found on the bucket (`current`) and as it will be written (`desired`)."""

    rule_id: str
    prefix: str
    current: Rule | None
    desired: Rule | None


class Claim(Protocol):
    """A rule or label by which some owner holds a prefix."""

    @property
    def owner(self) -> str:
        """The short uid of the holder."""

    @property
    def rule_id(self) -> str:
        """The rule ID, rule name or label key that carries the claim."""

    def overlaps(self, prefix: str) -> bool:
        """Whether the claimed prefix and `prefix` select a common key."""


class Dialect(Protocol):
    """One provider's rule vocabulary: identity, encoding and comparison of rules."""

    provider: str
    max_rules: int

    def scope(self, key_prefix: str) -> str:
        """The provider-scoped prefix for a key prefix (Azure prepends the container)."""

    def rule_id(self, owner: Owner, prefix: str, /) -> str:
        """The identity of our rule for `prefix`."""

    def encode(self, rule: DesiredRule, rule_id: str, /, *, enabled: bool) -> Rule | None:
        """The native rule; disabled rules are claims without effect (None where none exists)."""

    def canonical(self, rule: Rule) -> object:
        """A comparable form: server defaults and list order do not count as differences."""

    def owned_id(self, rule: Rule, owner: Owner, labels: Mapping[str, str], known: frozenset[str], /) -> str | None:
        """The rule's identity when `owner` owns it, else None."""

    def prefix_of(self, rule: Rule) -> str:
        """The prefix a rule of ours selects."""

    def claims(self, current: RuleSet) -> list[Claim]:
        """Every owner's claims found on the bucket."""

    def labels(self, current: Mapping[str, str], owner: Owner, prefixes: Sequence[str], /) -> dict[str, str]:
        """The bucket labels after recording that `owner` holds exactly `prefixes`."""


@dataclass(frozen=True)
class LifecyclePlan:
    """What a sync would do to a bucket's rules, and what it must not do."""

    add: tuple[PlannedRule, ...] = ()
    change: tuple[PlannedRule, ...] = ()
    keep: tuple[PlannedRule, ...] = ()
    remove: tuple[PlannedRule, ...] = ()
    foreign: tuple[Rule, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    withdrawn: tuple[Refusal, ...] = ()
    """Prefixes given up because they overlap another resource's root: not written, and our rule removed."""
    result: RuleSet = RuleSet()
    labels_change: bool = False

    @property
    def foreign_count(self) -> int:
        """Rules owned by anyone else, preserved as read."""
        return len(self.foreign)

    @property
    def owned(self) -> tuple[PlannedRule, ...]:
        """Our rules once the plan is applied."""
        return tuple(r for r in (*self.add, *self.change, *self.keep) if r.desired is not None)

    @property
    def needs_write(self) -> bool:
        """Whether applying the plan changes the bucket (never when refused)."""
        return not self.refusals and bool(self.add or self.change or self.remove or self.labels_change)

    @property
    def deletes_configuration(self) -> bool:
        """Whether the write removes the whole configuration: nothing is left, ours or foreign."""
        return self.needs_write and not self.result.rules


def lifecycle_mode(spec: ExternalPayloadStorageSpec) -> LifecycleMode:
    """Native rules where the provider has a rule store we can reach; the operator's sweep otherwise."""
    native_store = spec.driver in (Driver.S3, Driver.GCS) or bool(spec.azure and spec.azure.management_policy)
    asked = spec.lifecycle.mode if spec.lifecycle else LifecycleMode.NATIVE
    return asked if native_store else LifecycleMode.SWEEP


@dataclass(frozen=True)
class ForeignRoot:
    """The key root of another ExternalPayloadStorage on the same bucket: never ours to expire."""

    owner: str
    """namespace/name of that resource."""
    root: str


def unsafe_reason(prefix: str, tmp_prefix: str) -> str | None:
    """Why expiring `tmp_prefix` (relative to spec.prefix) is unsafe, or None when it is safe."""
    base = root(prefix)
    segments = tmp_prefix.split("/")
    if not tmp_prefix.endswith("/") or any(s in ("", ".", "..") for s in segments[:-1]):
        where = f"<root> {base!r}" if base else "the bucket root"
        return f"{tmp_prefix!r} must be whole path segments ending with '/', never reaching outside {where}"
    full = base + tmp_prefix
    for protected in (base + d for d in PROTECTED_DIRS):
        if overlaps(full, protected):
            return f"{full!r} would cover {protected!r}"
    payload_segments = sorted(PROTECTED_SEGMENTS.intersection(full.split("/")))
    if payload_segments:
        return f"{full!r} has a {payload_segments[0]!r} segment, where payload objects may live"
    return None


def spec_refusals(spec: ExternalPayloadStorageSpec, foreign: Sequence[ForeignRoot] = ()) -> tuple[Refusal, ...]:
    """Every unsafe temporary prefix of the spec, and every one overlapping another resource's root."""
    lifecycle = spec.lifecycle
    if lifecycle is None:
        return ()
    found = (unsafe_reason(spec.prefix, t) for t in lifecycle.tmp_prefixes)
    refusals = [Refusal(UNSAFE_PREFIX, f"refused: {why}") for why in found if why]
    return tuple(refusals) + root_overlaps(spec, foreign)


def root_overlaps(spec: ExternalPayloadStorageSpec, foreign: Sequence[ForeignRoot]) -> tuple[Refusal, ...]:
    """Every safe key prefix of the spec that overlaps another resource's root, one refusal per pair."""
    return tuple(
        Refusal(OVERLAPS_OTHER_ROOT, f"refused: {full!r} overlaps the root {other.root!r} of {other.owner}")
        for full in safe_key_prefixes(spec)
        for other in foreign
        if overlaps(full, other.root)
    )


def foreign_roots(spec: ExternalPayloadStorageSpec, uid: str, others: Iterable[Mapping[str, Any]]) -> list[ForeignRoot]:
    """The roots of every other resource (stored bodies, read leniently) on the same driver and bucket."""
    found = []
    for body in others:
        meta, other = body.get("metadata") or {}, body.get("spec") or {}
        if meta.get("uid") == uid or other.get("driver") != spec.driver.value:
            continue
        block = other.get(spec.driver.value) or {}
        bucket = block.get("bucket") or block.get("container") or block.get("path") if isinstance(block, dict) else None
        if bucket == spec.bucket:
            owner = f"ExternalPayloadStorage {meta.get('namespace')}/{meta.get('name')}"
            found.append(ForeignRoot(owner, root(str(other.get("prefix") or ""))))
    return found


def claim(body: Mapping[str, Any]) -> dict[str, Any]:
    """What `foreign_roots` reads of a stored body (identity, driver, its block, prefix): a cluster-wide listing
    kept between resyncs holds these few fields per resource, not whole bodies with their status."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    driver = spec.get("driver")
    kept = {"driver": driver, "prefix": spec.get("prefix")}
    if isinstance(driver, str):
        kept[driver] = spec.get(driver)
    return {"metadata": {k: meta.get(k) for k in ("uid", "namespace", "name")}, "spec": kept}


def safe_key_prefixes(spec: ExternalPayloadStorageSpec) -> tuple[str, ...]:
    """The key prefixes to expire (<root><tmpPrefix>), unsafe ones left out, sorted and unique."""
    lifecycle = spec.lifecycle
    if lifecycle is None:
        return ()
    safe = (t for t in lifecycle.tmp_prefixes if unsafe_reason(spec.prefix, t) is None)
    return tuple(sorted({root(spec.prefix) + t for t in safe}))


def desired_rules(
    spec: ExternalPayloadStorageSpec, dialect: Dialect, foreign: Sequence[ForeignRoot] = ()
) -> tuple[DesiredRule, ...]:
    """The rules the spec asks for, except over another resource's root: none when lifecycle is off or swept."""
    lifecycle = spec.lifecycle
    if lifecycle is None or not lifecycle.enabled or lifecycle_mode(spec) is not LifecycleMode.NATIVE:
        return ()
    return tuple(
        DesiredRule(dialect.scope(p), lifecycle.expiration_days, lifecycle.abort_incomplete_multipart_upload_days)
        for p in _uncontested(spec, foreign)
    )


def plan_sync(
    dialect: Dialect,
    owner: Owner,
    spec: ExternalPayloadStorageSpec,
    current: RuleSet,
    foreign: Sequence[ForeignRoot] = (),
) -> LifecyclePlan:
    """Bring our rules to what the spec asks; any refusal (see `spec_refusals`) blocks every new rule.

    A prefix overlapping another resource's root is also withdrawn: a rule of ours already there (written
    before that resource appeared) is removed, and nothing else is written until the overlap is gone.
    """
    unsafe = spec_refusals(spec)  # without the other roots: the unsafe prefixes only
    withdrawn = root_overlaps(spec, foreign)
    known = frozenset(dialect.scope(p) for p in _uncontested(spec, foreign))
    plan = plan_rules(dialect, owner, desired_rules(spec, dialect, foreign), current, known=known)
    if unsafe or plan.refusals or not withdrawn:
        return replace(plan, refusals=unsafe + plan.refusals, withdrawn=withdrawn)
    roots = [dialect.scope(other.root) for other in foreign]
    return replace(_withdraw(dialect, owner, current, plan, roots), withdrawn=withdrawn)


def _withdraw(
    dialect: Dialect,
    owner: Owner,
    current: RuleSet,
    plan: LifecyclePlan,
    roots: Sequence[str],
) -> LifecyclePlan:
    """Only remove our rules over another resource's root; every other rule stays exactly as read.

    Ours means proven ours (rule ID, or on GCS our label): the planner was not told that the contested
    prefixes are ours, so an unlabelled rule that merely sits on one stays.
    """
    gone = tuple(r for r in plan.remove if any(overlaps(r.prefix, root) for root in roots))
    removed = {id(r.current) for r in gone}
    rules = tuple(rule for rule in current.rules if id(rule) not in removed)
    stay = (*plan.keep, *plan.change, *(r for r in plan.remove if r not in gone))
    labels = dialect.labels(current.labels, owner, [r.prefix for r in stay]) if gone else dict(current.labels)
    return LifecyclePlan(
        keep=tuple(replace(r, desired=r.current) for r in stay if r.current is not None),
        remove=gone,
        foreign=plan.foreign,
        conflicts=plan.conflicts,
        result=RuleSet(rules, labels),
        labels_change=labels != dict(current.labels),
    )


def plan_removal(dialect: Dialect, owner: Owner, spec: ExternalPayloadStorageSpec, current: RuleSet) -> LifecyclePlan:
    """Remove every rule we own; foreign rules stay, and the configuration goes only if nothing is left."""
    return plan_rules(dialect, owner, (), current, known=_known(spec, dialect))


def _known(spec: ExternalPayloadStorageSpec, dialect: Dialect) -> frozenset[str]:
    return frozenset(dialect.scope(p) for p in safe_key_prefixes(spec))


def _uncontested(spec: ExternalPayloadStorageSpec, foreign: Sequence[ForeignRoot]) -> tuple[str, ...]:
    """The safe key prefixes that overlap no other resource's root."""
    return tuple(p for p in safe_key_prefixes(spec) if not any(overlaps(p, other.root) for other in foreign))


def plan_rules(
    dialect: Dialect,
    owner: Owner,
    desired: Iterable[DesiredRule],
    current: RuleSet,
    *,
    known: frozenset[str] = frozenset(),
) -> LifecyclePlan:
    """Merge `desired` into `current`: foreign rules kept as read, ours added, changed, kept or removed.

    `known` are prefixes whose unlabelled rules count as ours where rules carry no owner (GCS).
    A prefix overlapping another owner's claim is a conflict: an existing rule of ours stays as it
    is, and a missing one is written disabled, so both owners see the clash and neither expires the
    other's objects.
    """
    desired = list(desired)
    others = [c for c in dialect.claims(current) if c.owner != owner.short_uid]
    known = known | {d.prefix for d in desired}
    ours: dict[str, list[Rule]] = {}
    foreign: list[Rule] = []
    for rule in current.rules:
        rule_id = dialect.owned_id(rule, owner, current.labels, known)
        if rule_id is None:
            foreign.append(rule)
        else:
            ours.setdefault(rule_id, []).append(rule)

    add: list[PlannedRule] = []
    change: list[PlannedRule] = []
    keep: list[PlannedRule] = []
    conflicts: list[Conflict] = []
    written: list[Rule] = []
    for wanted in desired:
        rule_id = dialect.rule_id(owner, wanted.prefix)
        found = ours.get(rule_id, [])
        existing = found[0] if found else None
        if found:
            ours[rule_id] = found[1:]  # duplicates of ours are removed below
        clash = [Conflict(wanted.prefix, c.owner, c.rule_id) for c in others if c.overlaps(wanted.prefix)]
        conflicts.extend(clash)
        if clash and existing is not None:
            want: Rule | None = existing
        else:
            want = dialect.encode(wanted, rule_id, enabled=not clash)
        planned = PlannedRule(rule_id, wanted.prefix, existing, want)
        if existing is None:
            if want is not None:
                add.append(planned)
        elif want is not None and dialect.canonical(existing) == dialect.canonical(want):
            keep.append(planned)
            want = existing  # byte-for-byte as read: an equal rule is never rewritten differently
        else:
            change.append(planned)
        if want is not None:
            written.append(want)

    remove = tuple(PlannedRule(i, dialect.prefix_of(r), r, None) for i, rules in ours.items() for r in rules)
    labels = dialect.labels(current.labels, owner, [d.prefix for d in desired])
    plan = LifecyclePlan(
        add=tuple(add),
        change=tuple(change),
        keep=tuple(keep),
        remove=remove,
        foreign=tuple(foreign),
        conflicts=tuple(conflicts),
        result=RuleSet(tuple(foreign) + tuple(written), labels),
        labels_change=labels != dict(current.labels),
    )
    if len(plan.result.rules) > dialect.max_rules:
        count = len(plan.result.rules)
        message = f"{count} rules would exceed the {dialect.provider} limit of {dialect.max_rules}"
        return replace(plan, refusals=(Refusal(TOO_MANY_RULES, message),))
    return plan
