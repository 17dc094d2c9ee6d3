"""Errors a marketer can act on.

Every error the library raises on purpose derives from :class:`MarketLensError`
and carries a message that says what was wrong, where, and what to do. The UI
shows ``str(error)`` as it is; the CLI prints it as one line and exits non-zero.
Anything else escaping the library is a bug.
"""

from __future__ import annotations


class MarketLensError(Exception):
    """Base class of all errors meant for the user."""


class UnsupportedFileError(MarketLensError):
    """The bytes are not a format MarketLens reads (PDF, image, random binary, ...)."""


class EmptyFileError(MarketLensError):
    """The file has no data rows."""


class FileTooLargeError(MarketLensError):
    """The file, or what it unpacks to, is over the configured limit."""


class ParseError(MarketLensError):
    """The file looks like a table but cannot be read as one."""


class RaggedRowsError(MarketLensError):
    """Some rows have the wrong number of fields; import only if the user agrees.

    Attributes
    ----------
    n_bad : int
        How many rows were rejected.
    examples : list of dict
        A few of them: ``line`` (1-based line in the file) and ``text``.
    """

    def __init__(self, message: str, n_bad: int, examples: list[dict]):
        super().__init__(message)
        self.n_bad = n_bad
        self.examples = examples


class MappingError(MarketLensError):
    """The column roles cannot work (no user column, no usable time, ...)."""


class NoDataError(MarketLensError):
    """Nothing is left to work on (every row dropped, no users, ...)."""


class DatasetNotFoundError(MarketLensError):
    """The dataset asked for is not in the workspace."""


class WorkspaceError(MarketLensError):
    """The workspace cannot be opened or written."""


class InvalidParameterError(MarketLensError):
    """A parameter is out of range; the message names it and the valid range."""


class ModelCompatibilityError(MarketLensError):
    """A saved model cannot be used here (other scikit-learn version, missing features, bad file)."""


class SparkUnavailableError(MarketLensError):
    """pyspark or Java is missing, or the master cannot be reached."""


class LeakageWarning(UserWarning):
    """One feature predicts the label almost perfectly: probably leakage (a warning, not an error)."""


class FitError(MarketLensError):
    """A statistical model could not be fitted to the data; the message says why and what to try."""


class ResourceLimitError(MarketLensError):
    """Memory or disk ran out for a step; the message names the setting to change (nothing stored changed)."""
