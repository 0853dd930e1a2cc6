"""The shipped conformance suite, run on every backend that can run here."""

from mcp_router.secure.testing import BackendConformance


class TestConformance(BackendConformance):
    """``store_settings`` comes from conftest, parametrised over CONFORMANCE_BACKENDS."""
