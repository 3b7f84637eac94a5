"""Redaction and truncation of log entries before they leave the process.

`Redactor.prepare(entry)` returns a JSON-safe copy of an entry with secrets replaced by "[REDACTED]"
(sensitive keys anywhere in data / technical_details / performance_metrics; bearer tokens, JWTs,
connection-string passwords and secret query parameters inside any string) and cut down to the
database's 10 KB entry limit, measured as the database measures it (octet length of message,
user_friendly_message and stack_trace plus the binary jsonb size of the three JSON fields).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"
ENTRY_LIMIT = 10240  # bytes, the table's workflow_execution_logs_entry_size_check

DEFAULT_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "authorization",
        "cookie",
        "private_key",
        "client_secret",
    }
)

# (pattern, replacement) applied to every string, in order.
DEFAULT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), REDACTED),
    (re.compile(r"(?i)\b(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@"), r"\1" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)\b(api_key|apikey|access_token|refresh_token|token|password|passwd|secret|client_secret)"
            r"=([^&\s#\"']+)"
        ),
        r"\1=" + REDACTED,
    ),
)

# Any default pattern can only match where one of these appears (case-insensitively): texts without
# them skip the patterns. Substring tests on the lowered text cost ~0.7 µs; one regex alternation, ~7 µs.
_DEFAULT_TRIGGERS = ("bearer", "eyj", "postgres", "api", "token", "passw", "secret")


def _may_hold_default_secret(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _DEFAULT_TRIGGERS)

TEXT_FIELDS = ("message", "user_friendly_message", "stack_trace")
JSON_FIELDS = ("data", "technical_details", "performance_metrics")


def _normal_key(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def jsonb_size(value: Any) -> int:
    """An upper bound of Postgres' pg_column_size() of `value` as jsonb (varlena header included)."""
    return 4 + _jsonb_body(value)


def _jsonb_body(value: Any) -> int:
    if isinstance(value, dict):
        return 4 + sum(8 + len(str(k).encode()) + _jsonb_value(v) for k, v in value.items())
    if isinstance(value, list):
        return 4 + sum(4 + _jsonb_value(v) for v in value)
    return _jsonb_value(value)


def _jsonb_value(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (int, float)):
        # aligned numeric: padding, varlena header, numeric header, base-10000 digits
        return 3 + 4 + 4 + 2 * math.ceil(len(repr(value)) / 4 + 1)
    return 3 + _jsonb_body(value)  # a nested container, aligned


def entry_size(entry: dict[str, Any]) -> int:
    """The size the database checks against the 10 KB limit (absent JSON fields count as {})."""
    text = sum(len((entry.get(f) or "").encode()) for f in TEXT_FIELDS)
    return text + sum(jsonb_size(entry.get(f) or {}) for f in JSON_FIELDS)


@dataclass
class Prepared:
    entry: dict[str, Any]
    redacted: bool
    truncated: bool


class Redactor:
    """Configurable redaction plus truncation to the entry limit.

    `extra_keys` adds sensitive key names, `extra_patterns` adds regexes (str or compiled; their
    matches become "[REDACTED]"), `enabled=False` turns redaction off (truncation still applies).
    """

    def __init__(
        self,
        *,
        extra_keys: Iterable[str] = (),
        extra_patterns: Iterable[str | re.Pattern[str]] = (),
        enabled: bool = True,
        limit: int = ENTRY_LIMIT,
    ) -> None:
        self.enabled = enabled
        self.limit = limit
        self._hits = 0  # redactions made by the current clean() walk
        self.keys = DEFAULT_KEYS | {_normal_key(k) for k in extra_keys}
        self.patterns = DEFAULT_PATTERNS + tuple(
            (re.compile(p) if isinstance(p, str) else p, REDACTED) for p in extra_patterns
        )

    # -- redaction --------------------------------------------------------------------------
    def redact_text(self, text: str) -> str:
        if not self.enabled:
            return text
        patterns = self.patterns if _may_hold_default_secret(text) else self.patterns[len(DEFAULT_PATTERNS):]
        for pattern, replacement in patterns:
            text = pattern.sub(replacement, text)
        return text

    def clean(self, value: Any) -> Any:
        """A JSON-safe deep copy of `value` with sensitive keys and strings redacted."""
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                key = str(k)
                if self.enabled and _normal_key(key) in self.keys and v is not None:
                    out[key] = REDACTED
                    self._hits += 1
                else:
                    out[key] = self.clean(v)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.clean(v) for v in value]
        if isinstance(value, str):
            cleaned = self.redact_text(value)
            if cleaned != value:
                self._hits += 1
            return cleaned
        if value is None or isinstance(value, (bool, int)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)  # jsonb has no NaN/Infinity
        return self.redact_text(str(value))

    # -- the whole entry --------------------------------------------------------------------
    def prepare(self, entry: dict[str, Any]) -> Prepared:
        """A redacted, JSON-safe, size-limited copy of `entry`."""
        out = dict(entry)
        redacted = False
        for f in TEXT_FIELDS:
            if isinstance(out.get(f), str):
                cleaned = self.redact_text(out[f])
                redacted |= cleaned != out[f]
                out[f] = cleaned
        self._hits = 0
        for f in JSON_FIELDS:
            if out.get(f) is not None:
                original = out[f]
                out[f] = self.clean(original if isinstance(original, dict) else {"value": original})
        redacted |= self._hits > 0
        truncated = truncate_entry(out, self.limit)
        return Prepared(out, redacted, truncated)


def _surely_within(entry: dict[str, Any], limit: int) -> bool:
    """A cheap bound that settles the common small entry without measuring jsonb sizes: at most 4
    bytes per character of text, and a cleaned (JSON-safe) value's jsonb never larger than 8x its
    Python repr plus headers (repr is never shorter than the JSON text but for escapes of non-ASCII
    characters, which the 4 bytes per character already cover; it is 5x cheaper than json.dumps)."""
    total = 0
    for f in TEXT_FIELDS:
        v = entry.get(f)
        if isinstance(v, str):
            total += 4 * len(v)
    for f in JSON_FIELDS:
        v = entry.get(f)
        if v:
            total += 8 * len(repr(v)) + 64
        else:
            total += 16
    return total <= limit


def _cut(text: str, keep_bytes: int) -> str:
    return text.encode()[: max(keep_bytes, 0)].decode(errors="ignore")


def truncate_entry(entry: dict[str, Any], limit: int = ENTRY_LIMIT) -> bool:
    """Cut `entry` in place to `limit` bytes (the database's measure); True when anything was cut.

    JSON fields that leave too little room for the text are replaced, largest first, by
    {"_truncated": true, "_original_bytes": N}; then the longest text fields are cut first, each
    ending with a visible "…[truncated N bytes]" marker.
    """
    if _surely_within(entry, limit) or entry_size(entry) <= limit:
        return False
    reserve = min(1024, limit // 4)  # room left for the text fields
    sizes = {f: jsonb_size(entry[f]) for f in JSON_FIELDS if entry.get(f)}
    while sizes and sum(sizes.values()) > limit - reserve:
        biggest = max(sizes, key=sizes.__getitem__)
        entry[biggest] = {"_truncated": True, "_original_bytes": sizes[biggest]}
        sizes[biggest] = jsonb_size(entry[biggest])
        if all(entry[f].get("_truncated") for f in sizes):
            break
    budget = limit - sum(jsonb_size(entry.get(f) or {}) for f in JSON_FIELDS)
    while True:
        lengths = {f: len(entry[f].encode()) for f in TEXT_FIELDS if isinstance(entry.get(f), str)}
        excess = sum(lengths.values()) - budget
        if excess <= 0 or not lengths:
            return True
        longest = max(lengths, key=lengths.__getitem__)
        size = lengths[longest]
        marker = f"…[truncated {excess} bytes]"
        for _ in range(3):  # the marker's own length depends on the number it shows
            keep = size - excess - len(marker.encode())
            if keep <= 0:
                break
            cut = _cut(entry[longest], keep)
            marker = f"…[truncated {size - len(cut.encode())} bytes]"
        if keep <= 0:
            # too short to hold the marker and give up `excess`: empty it and cut the next one
            entry[longest] = ""
        else:
            entry[longest] = _cut(entry[longest], size - excess - len(marker.encode())) + marker
