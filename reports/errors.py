"""Errors of the reporting workflow; views turn them into responses with ``status``."""

from __future__ import annotations


class WorkflowError(Exception):
    """A workflow step that cannot happen now; ``str(exc)`` is shown to the user."""

    status = 409


class NotAllowed(WorkflowError):
    """The user may see the study but may not do this to it."""

    status = 403


class Invalid(WorkflowError):
    """The submitted data is incomplete or wrong (e.g. signing without an impression)."""

    status = 400


class Conflict(WorkflowError):
    """The study or report is not in a state that allows this (e.g. already signed)."""

    status = 409
