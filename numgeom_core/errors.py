"""Exceptions raised by numgeom for input a user can fix.

Every message names the value that was rejected, what is allowed, and how to fix it.
"""


class NumgeomError(Exception):
    """Base class for every error numgeom raises on purpose."""


class ConfigError(NumgeomError, ValueError):
    """A setting is invalid: out of range, of the wrong type, or inconsistent with another."""


class BackboneError(NumgeomError, ValueError):
    """A backbone name or registration is invalid or unknown."""


class ModelUnavailableError(NumgeomError):
    """A registered backbone's weights cannot be found or loaded on this machine."""


class DatasetError(NumgeomError, ValueError):
    """A dataset setting cannot be satisfied, or a generated sample breaks a family rule."""


class EmbeddingError(NumgeomError):
    """An embedding could not be computed, or came out non-finite or of the wrong shape."""


class MetricError(NumgeomError, ValueError):
    """Metric inputs are inconsistent (mismatched lengths, non-finite values)."""
