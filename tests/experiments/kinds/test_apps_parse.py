"""Flux app logs: FLUXTIME wall times and figures of merit."""

from __future__ import annotations

import re

from experiments.kinds.apps.parse import app_tables, parse_app_log
from tests.analysis.seed_data import STREAMING, WITHOUT_STREAMING


def test_fluxtime_and_fom_from_amg_logs() -> None:
    for directory in (STREAMING, WITHOUT_STREAMING):
        log = next((directory / "logs").glob("*amg2023*.log"))
        text = log.read_text()
        times, foms = parse_app_log(text, log)
        # Golden values straight from the lines the log prints.
        clocks = dict(re.findall(r"^FLUXTIME (\w+) wall time 0:([\d.]+)$", text, re.M))
        assert {t["kind"]: t["seconds"] for t in times} == {k: float(v) for k, v in clocks.items()}
        assert {t["app"] for t in times} == {"amg"}
        fom = float(re.search(r"Figure of Merit \(FOM\):.* (\S+)\s*$", text, re.M).group(1))
        assert [(f["metric"], f["value"]) for f in foms] == [("fom", fom)]


def test_app_without_fom_has_no_fom_row(tmp_path) -> None:
    log = tmp_path / "minife.log"
    log.write_text("broker.info[0]: rc2.0: /usr/bin/time -f FLUXTIME fluxsubmit wall time %E "
                   "flux submit -N 4 -n32 --quiet /opt/view/bin/miniFE.x nx=230 Exited (rc=0) 8.0s\n"
                   "FLUXTIME fluxsubmit wall time 0:07.99\n")
    times, foms = app_tables([log])
    assert list(times["app"]) == ["miniFE.x"] and times["seconds"].iloc[0] == 7.99
    assert foms.empty
