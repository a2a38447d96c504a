"""deskmove's one exception module.

Classes are named by how a user (or cron) recovers from them, and each carries
the exit code the CLI returns::

    DeskmoveError                  1  failed; message says what happened and what to do
    ├── UsageError                 2  bad command line, spec or project file: fix and re-run
    │   ├── ConfigError            2  deskmove.toml or a mapping/spec file is wrong
    │   ├── MissingSecret          2  an environment variable must be set
    │   └── NotSupported           2  this adapter cannot do that (verify, roll back, …)
    ├── InputError                 2  the input file/folder cannot be read as asked
    ├── AuthError                  1  the remote system refused the credentials
    ├── RetriableError             1  network trouble, rate limit, server error: re-run later
    │   ├── RemoteUnavailable      1  could not reach the server at all
    │   └── DeadlineExceeded       1  the run's --deadline passed: re-run later
    ├── FatalRemoteError           1  the remote system said no (4xx): retrying will not help
    │   └── RemoteFailure          1  … with the HTTP status (404 = gone, 409 = conflict)
    ├── StoreError                 1  the store cannot be opened/written (disk full, locked, …)
    └── LockHeld                  75  another sync holds the lock: cron tries again later

Messages follow the shape ``what happened — what to do`` and never contain a
secret.

Record-level problems never reach the CLI: they become a quarantine reason::

    MailParseError      a mail that cannot become a message
    UnknownValue        a native value a mapping has no canonical value for (a ValueError)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_QUARANTINED = 3
EXIT_LOCKED = 75


class DeskmoveError(Exception):
    """Base class: a failure deskmove explains to its user in one line."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class UsageError(DeskmoveError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    pass


class MissingSecret(UsageError):
    def __init__(self, variable: str, what: str = "a secret") -> None:
        super().__init__(
            f"{what} is not set",
            f"set the environment variable {variable} and run again",
        )
        self.variable = variable


class NotSupported(UsageError):
    """The adapter cannot do what was asked; nothing was changed."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or "nothing was changed")


class InputError(DeskmoveError):
    exit_code = EXIT_USAGE


class AuthError(DeskmoveError):
    pass


class RetriableError(DeskmoveError):
    pass


class RemoteUnavailable(RetriableError):
    pass


class DeadlineExceeded(RetriableError):
    pass


class OutcomeUnknown(RetriableError):
    """A create or append whose answer was lost after it was sent (a 5xx, a dropped
    connection, a timeout): the target may have done it, so it is not sent again blindly."""


class FatalRemoteError(DeskmoveError):
    pass


class RemoteFailure(FatalRemoteError):
    """A 4xx the API meant: retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, "check the data or the spec; retrying will not help")
        self.status = status


class MailParseError(Exception):
    """A mail that cannot become a message; the text is the quarantine reason."""


class UnknownValue(ValueError):
    """A native value the mapping has no canonical value for."""


class StoreError(DeskmoveError):
    pass


class LockHeld(DeskmoveError):
    exit_code = EXIT_LOCKED
