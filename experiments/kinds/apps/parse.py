"""Application logs of Flux MiniClusters: `FLUXTIME` wall times and the app's figure of merit.

The lead broker prints `FLUXTIME fluxsubmit wall time M:SS.ss` (the job) and `FLUXTIME
fluxstart wall time ...` (the whole broker) through GNU time's `%E`. Some apps also print a
figure of merit (AMG's `Figure of Merit (FOM)`, LAMMPS's `katom-step/s`); apps that print none
(miniFE to stdout) simply have no FOM row - it is not invented from other numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from experiments.durations import parse_clock
from experiments.parse_errors import BadInput

_FLUXTIME = re.compile(r"^FLUXTIME (?P<kind>\w+) wall time (?P<clock>[\d:.]+)\s*$")
_SUBMIT = re.compile(r"flux submit (?P<args>.*?)(?: Exited \(rc=\d+\).*)?$")

# (app executable, metric, unit, pattern whose last group is the value)
FOM_PATTERNS = [
    ("amg", "fom", "nnz_AP/s",
     re.compile(r"Figure of Merit \(FOM\):.*?([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")),
    ("lmp", "katom_step_per_s", "katom-step/s",
     re.compile(r"^Performance:.*?([\d.]+) katom-step/s")),
]
TIME_COLUMNS = ["app", "kind", "seconds", "source"]
FOM_COLUMNS = ["app", "metric", "value", "unit", "source"]


def app_name(text: str, fallback: str) -> str:
    """The executable `flux submit` ran (`amg`, `lmp`, `miniFE.x`, `osu_allreduce`)."""
    for line in text.splitlines():
        if "FLUXTIME fluxsubmit" in line and (submit := _SUBMIT.search(line)):
            for token in submit.group("args").split():
                if "/" in token and "=" not in token:
                    return token.rsplit("/", 1)[-1]
    return fallback


def parse_app_log(text: str, source: str | Path) -> tuple[list[dict], list[dict]]:
    """(FLUXTIME rows, FOM rows) of one lead-broker log."""
    stem = Path(source).stem
    app = app_name(text, fallback=re.sub(r"-[0-9a-f]{6,}$", "", stem))
    times, foms = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _FLUXTIME.match(line.strip()):
            try:
                seconds = parse_clock(match.group("clock"))
            except ValueError:
                where = f"{source}:{number}"
                raise BadInput(where, line, "FLUXTIME <kind> wall time M:SS.ss") from None
            times.append({"app": app, "kind": match.group("kind"), "seconds": seconds,
                          "source": Path(source).name})
            continue
        for exe, metric, unit, pattern in FOM_PATTERNS:
            if app == exe and (fom := pattern.search(line)):
                foms.append({"app": app, "metric": metric, "value": float(fom.group(1)),
                             "unit": unit, "source": Path(source).name})
    return times, foms


def app_tables(paths: list[Path], steps: Mapping[Path, str | None] | None = None):
    """(times, foms) DataFrames of many app logs; with `steps` (each log's harness step), a
    last column `step` says which step each row came from."""
    import pandas as pd

    times, foms = [], []
    for path in sorted(paths):
        t, f = parse_app_log(path.read_text(errors="replace"), path)
        if steps is not None:
            for row in (*t, *f):
                row["step"] = steps.get(path)
        times.extend(t)
        foms.extend(f)
    extra = ["step"] if steps is not None else []
    return (pd.DataFrame(times, columns=[*TIME_COLUMNS, *extra]),
            pd.DataFrame(foms, columns=[*FOM_COLUMNS, *extra]))
