"""Test doubles: in-memory twins of the lifecycle interfaces, imported by tests only."""
