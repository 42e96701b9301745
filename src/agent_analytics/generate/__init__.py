"""Deterministic, realistic data for the stand-in app and analytics.user_activity: simulate.py
draws the world and what its people do from a seed, load.py writes it into a database.

The same seed gives the same rows; an append of the next hour continues the same world.
"""

from agent_analytics.generate import simulate
from agent_analytics.generate.load import (
    Counts,
    GenerateOptions,
    GeneratorError,
    append,
    demo_database,
    generate,
    parse_duration,
    remembered_settings,
)
from agent_analytics.generate.simulate import SCALES, Scale
from agent_analytics.progress import Progress

__all__ = [
    "SCALES", "Counts", "GenerateOptions", "GeneratorError", "Progress", "Scale", "append", "demo_database",
    "generate", "parse_duration", "remembered_settings", "simulate",
]
