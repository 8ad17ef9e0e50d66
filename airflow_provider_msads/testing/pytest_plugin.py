"""pytest fixtures for the emulator. Opt-in: installing the provider registers no pytest plugin.

Enable them in a ``conftest.py`` with ``pytest_plugins = ["airflow_provider_msads.testing.pytest_plugin"]``
(this repository's tests/conftest.py does) or per run with ``-p airflow_provider_msads.testing.pytest_plugin``.

* ``msads_emulator``: a running :class:`~airflow_provider_msads.testing.Emulator` (25 demo accounts,
  seed 0). Function-scoped state (tokens, faults, counters, clock, consent are reset for every test) on a
  server and data set shared by the whole session, so each test pays microseconds, not a start-up.
* ``msads_emulator_factory``: ``factory(accounts=..., seed=..., **options)`` -> a new running emulator,
  stopped at the end of the test. Data sets are cached per ``(accounts, seed, foreign_accounts)``.

It imports nothing heavy at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_msads.testing.data import Dataset
    from airflow_provider_msads.testing.emulator import Emulator

EmulatorFactory = Callable[..., "Emulator"]


@pytest.fixture(scope="session")
def _msads_emulator_datasets() -> dict[tuple[int, int, int], Dataset]:
    return {}


@pytest.fixture(scope="session")
def _msads_emulator_session() -> Iterator[Emulator]:
    from airflow_provider_msads.testing.emulator import Emulator

    emu = Emulator(accounts=25, seed=0)
    emu.start("127.0.0.1", 0)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def msads_emulator(_msads_emulator_session: Emulator) -> Iterator[Emulator]:
    """A running emulator with fresh state (demo identity valid, no faults, zero counters)."""
    _msads_emulator_session.reset()
    yield _msads_emulator_session
    _msads_emulator_session.reset()


@pytest.fixture
def msads_emulator_factory(
    _msads_emulator_datasets: dict[tuple[int, int, int], Dataset],
) -> Iterator[EmulatorFactory]:
    """Build emulators with custom options, e.g. ``factory(accounts=2000, seed=3, access_token_ttl=5)``."""
    from airflow_provider_msads.testing.data import Dataset
    from airflow_provider_msads.testing.emulator import Emulator

    started: list[Emulator] = []

    def factory(accounts: int = 25, seed: int = 0, *, foreign_accounts: int = 3, **options: Any) -> Emulator:
        key = (accounts, seed, foreign_accounts)
        data = _msads_emulator_datasets.get(key)
        if data is None:
            data = _msads_emulator_datasets[key] = Dataset(accounts, seed, foreign_accounts)
        host = options.pop("host", "127.0.0.1")
        port = options.pop("port", 0)
        emu = Emulator(data=data, **options)
        emu.start(host, port)
        started.append(emu)
        return emu

    try:
        yield factory
    finally:
        for emu in started:
            emu.stop()
