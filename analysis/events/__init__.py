"""Kubelet event streams (JSON lines of core/v1 Events) to a tidy table with one row per pull.

Three steps, three modules: `read` (files, chunks, processes), `parse` (which lines matter and
what they say, into an `EventIngest`) and `pulls` (the pull table and what derives from it).
The names callers use are re-exported here.
"""

from analysis.events.parse import (
    EventIngest,
    classify_image,
    image_key,
    parse_pulled_message,
    repository_name,
)
from analysis.events.pulls import completeness, event_spread, pull_table
from analysis.events.read import free_cores, ingest_files

__all__ = [
    "EventIngest", "classify_image", "completeness", "event_spread", "free_cores", "image_key",
    "ingest_files", "parse_pulled_message", "pull_table", "repository_name",
]
