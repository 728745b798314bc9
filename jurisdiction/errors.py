"""quanze's error tree. Every error has a stable snake_case ``code`` and keyword context.

Domain code raises these; the HTTP layer maps codes to problem+json in one place
(:mod:`api.problems`), the CLI prints them with their context.

    QuanzeError
    ├── NotFound                  code: *_not_found      (unit, area, category, rule, decision …)
    ├── InvalidInput              code: invalid_*         (a request or bundle field is wrong)
    │   └── BundleInvalid         code: bundle_invalid    (carries every problem with its location)
    ├── Conflict                  code: *_conflict        (state forbids the change: 409)
    │   └── RulesetCorrupt        code: ruleset_digest_mismatch (a version's rows changed
    │                                                      after its commit; rules/store.py)
    ├── LimitExceeded             code: *_too_large       (a size limit: 413)
    ├── Unauthorized              code: unauthorized      (401) / forbidden (403)
    ├── EngineError               code: engine_*          (the rule engine refused; rules/engine.py)
    │   ├── ShardTooLarge         code: shard_too_large   (a compiled shard would exceed a cap)
    │   └── EngineRefused         code: engine_refused    (the engine would not load a change)
    └── Unavailable               code: *_unavailable     (a needed tool is missing: 503)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class QuanzeError(Exception):
    """Base of every error quanze raises on purpose."""

    status = 400
    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.context = context

    def __str__(self) -> str:
        if not self.context:
            return self.message
        ctx = ", ".join(f"{k}={v!r}" for k, v in self.context.items())
        return f"{self.message} ({ctx})"


class NotFound(QuanzeError):
    status = 404
    default_code = "not_found"


class InvalidInput(QuanzeError):
    status = 422
    default_code = "invalid_input"


@dataclass(frozen=True)
class Problem:
    """One problem in an import: where (a JSON path such as ``rules[3].lead`` or a sheet row
    such as ``清单!12``), which field, and what is wrong."""

    location: str
    message: str
    code: str = "invalid_value"
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "field": self.field, "code": self.code,
                "message": self.message}


@dataclass
class ProblemList:
    """Collects problems so an import can report all of them at once."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, location: str, message: str, *, code: str = "invalid_value",
            field: str | None = None) -> None:
        self.problems.append(Problem(location, message, code, field))

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self, what: str) -> None:
        if self.problems:
            raise BundleInvalid(what, self.problems)


class BundleInvalid(InvalidInput):
    default_code = "bundle_invalid"

    def __init__(self, what: str, problems: list[Problem]) -> None:
        super().__init__(f"{what}: {len(problems)} problem(s); nothing was written",
                         count=len(problems))
        self.problems = problems


class Conflict(QuanzeError):
    status = 409
    default_code = "conflict"


class RulesetCorrupt(Conflict):
    """A rule-set version's rows no longer give the content digest recorded when it was
    committed: it is not served, and no change is built on it (except one that replaces the
    whole matrix, such as activating an earlier version)."""

    default_code = "ruleset_digest_mismatch"


class LimitExceeded(QuanzeError):
    status = 413
    default_code = "too_large"


class Unauthorized(QuanzeError):
    status = 401
    default_code = "unauthorized"


class Forbidden(QuanzeError):
    status = 403
    default_code = "forbidden"


class EngineError(QuanzeError):
    status = 500
    default_code = "engine_error"


class ShardTooLarge(EngineError):
    status = 422
    default_code = "shard_too_large"


class EngineRefused(EngineError):
    """The engine refused to create a ruleset: the change cannot be served (422, never
    committed)."""

    status = 422
    default_code = "engine_refused"


class Unavailable(QuanzeError):
    status = 503
    default_code = "unavailable"
