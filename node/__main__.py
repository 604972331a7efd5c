"""``python -m node start ...`` works like ``swarmtrust node start ...``."""

from node.cli import app
from node.console import run_app

run_app(app, "python -m node")
