"""Test-suite configuration: hypothesis profiles and a few shared fixtures.

Profiles (select with ``HYPOTHESIS_PROFILE=...``):

- ``ci`` (default): modest, derandomized example counts so the whole suite is
  fast and every run is reproducible (no example database is written);
- ``thorough``: random exploration with many more examples, for local hunting.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import autograd_np

settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _grad_mode_is_restored():
    """Every test starts with recording on, and must leave it on."""
    assert autograd_np.is_grad_enabled()
    yield
    assert autograd_np.is_grad_enabled(), "a test left no_grad() switched on"


@pytest.fixture(autouse=True)
def _public_names_are_restored():
    """A name a test (or a docs example) publishes with ``api.public`` is withdrawn afterwards."""
    before = set(autograd_np.api.FUNCTIONS) | set(autograd_np.api.METHODS)
    yield
    for name in (set(autograd_np.api.FUNCTIONS) | set(autograd_np.api.METHODS)) - before:
        autograd_np.api.withdraw(name)


# ``AUTOGRAD_NP_NO_SKIPS=1`` (set by .ci/run, which installs the optional test dependencies):
# a skipped test is a failure there, so CI never passes with checks left out.
NO_SKIPS = os.environ.get("AUTOGRAD_NP_NO_SKIPS") == "1"


def _skip_as_failure(report: pytest.BaseReport) -> None:
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped with AUTOGRAD_NP_NO_SKIPS=1: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    _skip_as_failure(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    _skip_as_failure(outcome.get_result())
