"""The simulation's one error: a scenario that cannot be simulated as asked (under ``SwarmtrustError``)."""

from __future__ import annotations

from swarmtrust.protocol.errors import SwarmtrustError


class ScenarioError(SwarmtrustError):
    """A scenario that cannot be simulated as asked: a bad option, or a calibration without the rates it needs."""
