"""Validation of names that become partition keys and folder names."""

import re

from numgeom_core.errors import BackboneError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = (
    "1 to 64 characters from letters, digits, '.', '_' and '-', starting with a letter or "
    "digit, and not containing '..'"
)


def validate_name(name: object, what: str = "backbone name") -> str:
    """Return `name` unchanged if it is safe as a partition key and a single folder name.

    Raises BackboneError naming the value and the rule otherwise. Path separators, '..',
    and the '|' and ',' that Dagster uses inside partition keys are all rejected.
    """
    if not isinstance(name, str):
        raise BackboneError(f"Invalid {what} {name!r}: expected a string of {NAME_RULE}.")
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise BackboneError(
            f"Invalid {what} {name!r}: use {NAME_RULE}, for example 'minilm-l6' or 'smollm2-135m'."
        )
    return name
