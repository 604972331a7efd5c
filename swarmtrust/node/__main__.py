"""``python -m swarmtrust.node start ...`` works like ``swarmtrust node start ...``."""

from swarmtrust.node.cli import app
from swarmtrust.node.console import run_app

run_app(app, "python -m swarmtrust.node")
