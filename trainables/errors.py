"""Exceptions that carry a one-line, actionable message for the user."""

from __future__ import annotations


class UserInputError(ValueError):
    """A problem with what the user gave us.

    ``str(exc)`` is one line naming the file or folder and the fix.
    """


class DataError(UserInputError):
    """The data set on disk (folders, manifest or frame files) cannot be used as given."""
