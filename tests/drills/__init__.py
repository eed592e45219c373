"""Reliability drills: the real operator process against faults, kills, load and hostile input."""
