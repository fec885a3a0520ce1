"""The reading room's tests use the reporting tests' studies (CT_small.dcm, a real CT)."""

from tests.reports.conftest import assigned_study, pool_study, reported_study

__all__ = ["assigned_study", "pool_study", "reported_study"]
