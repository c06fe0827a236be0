"""What analysis gets from an application study: lead-broker logs -> wall times and FOMs."""

from __future__ import annotations

from typing import Any

from experiments.base import Metric, StepOutput
from experiments.kinds._tables import distinct
from experiments.views import Pivot

# One record per FLUXTIME line and one per figure of merit; a FOM's unit is the app's own
# (nnz_AP/s, katom-step/s) and its name (`fom`, `katom_step_per_s`) the label `fom`.
APP_TIMES_VIEW = Pivot(
    "app_times",
    columns=("app", "kind", "seconds", "source"),
    dtypes={"app": "str", "kind": "str", "seconds": "float64", "source": "str"},
    metrics={"app_seconds": "seconds"},
    labels_only=("step",),
)
APP_FOM_VIEW = Pivot(
    "app_fom",
    columns=("app", "metric", "value", "unit", "source"),
    dtypes={"app": "str", "metric": "str", "value": "float64", "unit": "str", "source": "str"},
    metrics={"app_fom": "value"},
    unit_column="unit",
    rename={"metric": "fom"},
    labels_only=("step",),
)


class AppsResults:
    data = "app"
    tables = ("app_times", "app_fom")
    metrics = (
        Metric("app_seconds", "s", "lower", "FLUXTIME wall time of the job or the broker"),
        # Every figure of merit the catalogue parses is a rate (nnz_AP/s, katom-step/s).
        Metric("app_fom", "(per app)", "higher", "the application's own figure of merit"),
    )
    report_tables = (("app_times", "Application wall times"),
                     ("app_fom", "Application figures of merit"))
    views = (APP_TIMES_VIEW, APP_FOM_VIEW)

    def parse(self, outputs: list[StepOutput], problems: list[str]) -> dict[str, Any]:
        from experiments.kinds.apps.parse import app_tables

        steps = {o.path: None if o.seed else o.step for o in outputs}
        times, foms = app_tables([o.path for o in outputs], steps)
        return {"app_times": times, "app_fom": foms}

    def summarize(self, combined: dict[str, Any]) -> dict[str, Any]:
        return {}

    def describe(self, tables: dict[str, Any]) -> dict[str, Any]:
        """What a run without a recorded experiment definition shows it ran."""
        apps = distinct(tables, "app_times", "app")
        return {} if apps is None else {"apps": apps}

    def figures(self) -> tuple[Any, ...]:
        from experiments.kinds.apps.figures import app_times

        return (app_times,)

    def observations(self, tables: dict[str, Any], by: str | None) -> list[Any]:
        import pandas as pd

        out = []
        times = tables.get("app_times")
        if times is not None and not times.empty:
            out.append(pd.DataFrame({"metric": "app_seconds",
                                     "key": times["app"] + " " + times["kind"],
                                     "value": times["seconds"]}))
        fom = tables.get("app_fom")
        if fom is not None and not fom.empty:
            out.append(pd.DataFrame({"metric": "app_fom",
                                     "key": fom["app"] + " " + fom["metric"],
                                     "value": fom["value"]}))
        return out
