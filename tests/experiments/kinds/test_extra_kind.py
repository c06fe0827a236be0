"""A kind defined here, in the test tree, gets plan, estimate, parse, table and figure through the
registry alone: no other module names it. Registration is undone when each test ends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from experiments.base import (
    ClusterFacts,
    Metric,
    RenderContext,
    Step,
    StepOutput,
    Workload,
)
from experiments.kinds._common import job_workload, timed_step
from experiments.registry import get_kind, known_kinds, metric, registered
from tests.conftest import NOW, sections

IMAGE = "public.ecr.aws/docker/library/buildpack-deps:noble-curl"
SECONDS_PER_ROUND = 40.0


class TallyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    rounds: int = Field(default=2, ge=1, le=5)


class Tally:
    """Counts to N on one node, once per round, and prints how long each count took."""

    name = "tally"
    requires: tuple[str, ...] = ()
    Params = TallyParams
    data = "tally"
    tables = ("tally",)
    metrics = (Metric("tally_seconds", "s", "lower", "time to count"),)

    def steps(self, params: TallyParams, cluster: ClusterFacts) -> list[Step]:
        return [timed_step(f"tally-{r}", SECONDS_PER_ROUND, {"round": r})
                for r in range(1, params.rounds + 1)]

    def render(self, step: Step, params: TallyParams, ctx: RenderContext, opts: Any) -> Workload:
        def build(step: Step, ctx: RenderContext, labels: dict[str, str]) -> dict[str, Any]:
            return {
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": step.name, "namespace": ctx.namespace, "labels": labels,
                             "annotations": {"pulumi.com/skipAwait": "true"}},
                "spec": {"backoffLimit": 0,
                         "activeDeadlineSeconds": int(step.deadline_seconds),
                         "template": {"metadata": {"labels": labels}, "spec": {
                             "restartPolicy": "Never",
                             "containers": [{"name": "tally", "image": IMAGE,
                                             "command": ["sh", "-c", "echo TALLY 1 0.5"]}]}}},
            }

        return job_workload(step, ctx, "workload", opts, build)

    def parse(self, outputs: list[StepOutput], problems: list[str]) -> dict[str, Any]:
        import pandas as pd

        rows = []
        for out in outputs:
            for line in out.path.read_text().splitlines():
                if line.startswith("TALLY "):
                    _, count, seconds = line.split()
                    rows.append({"step": out.step, "round": out.params.get("round"),
                                 "count": int(count), "seconds": float(seconds)})
        return {"tally": pd.DataFrame(rows, columns=["step", "round", "count", "seconds"])}

    def summarize(self, combined: dict[str, Any]) -> dict[str, Any]:
        return {}

    def figures(self) -> tuple[Any, ...]:
        return (tally_times,)

    def observations(self, tables: dict[str, Any], by: str | None) -> list[Any]:
        import pandas as pd

        t = tables.get("tally", pd.DataFrame({"count": [], "seconds": []}))
        key = "count=" + t["count"].astype(str)
        return [pd.DataFrame({"metric": "tally_seconds", "key": key, "value": t["seconds"]})]


def tally_times(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    from experiments import plotting as plot

    t = plot.table(tables, "tally")
    if t is None:
        return []
    fig, ax = plot.plt.subplots(figsize=(3, 2))
    ax.plot(t["round"], t["seconds"], **plot.series_style(0))
    return [plot.save(fig, out_dir, "tally_times", "Tally times", "One point per round.")]


@pytest.fixture
def tally():
    with registered(Tally) as kind:
        yield kind
    assert "tally" not in known_kinds()


def tally_stack(project, params: dict) -> str:
    sec = sections("gke-4-nightly")
    sec["experiment"] = {"kind": "tally", "params": params}
    return project("tally-4", sec)


def test_registration_is_undone_and_cannot_shadow_a_kind(tally):
    assert get_kind("tally") is tally
    assert metric("tally_seconds").direction == "lower"
    with pytest.raises(ValueError, match="experiment kind 'tally' registered twice"):
        with registered(Tally):
            pass


def test_plan_renders_and_prices_the_kind(tally, project, locked_images):
    from study.plan import make_plan

    plan = make_plan(tally_stack(project, {"rounds": 3}), now=NOW)
    assert plan.violations == []
    est = plan.report.estimate
    assert plan.exports["steps"] == ["tally-1", "tally-2", "tally-3"]
    # The rounds run in turn; each upload but the last overlaps the next round's start.
    from experiments.duration_model import harness

    assert est.experiment_hours == pytest.approx(
        (3 * SECONDS_PER_ROUND - 2 * harness("upload")) / 3600)
    jobs = [m["metadata"]["name"] for m in plan.manifests if m["kind"] == "Job"]
    assert {"tally-1", "tally-2", "tally-3"} <= set(jobs)
    kinds = {e["value"] for m in plan.manifests if m["kind"] == "Job"
             and m["metadata"]["name"].startswith("rec-tally")
             for e in m["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "KIND"}
    assert kinds == {"tally"}


def test_bad_params_are_one_line_naming_the_key_when_the_stack_loads(tally, project):
    from core.errors import SpecError
    from study.plan import make_plan

    with pytest.raises(SpecError) as err:
        make_plan(tally_stack(project, {"rounds": 9}), now=NOW)
    assert list(err.value.problems) == [
        "study:experiment.params.rounds: 9 is not allowed; input should be less than or equal "
        "to 5"]


def write_run(root: Path) -> Path:
    run = root / "tally-4" / "run-1"
    (run / "steps").mkdir(parents=True)
    (run / "provenance.json").write_text(json.dumps({"stack": "tally-4", "run_id": "run-1"}))
    rows = []
    for r, seconds in ((1, 0.5), (2, 0.7)):
        step = f"tally-{r}"
        (run / "steps" / step).mkdir()
        (run / "steps" / step / "log.txt").write_text(f"starting\nTALLY {r} {seconds}\n")
        rows.append({"step": step, "kind": "tally", "status": "succeeded",
                     "params": {"round": r}})
    (run / "steps.json").write_text(json.dumps(rows))
    return run


def test_parse_table_and_figure_of_a_recorded_run(tally, tmp_path):
    from analysis.figures import draw_figures
    from analysis.load import load_run
    from analysis.rundir import RunDir
    from analysis.tables import combine, table_names

    run = RunDir.open(write_run(tmp_path / "results"))
    assert [(log.kind, log.step) for log in run.logs] == [("tally", "tally-1"),
                                                          ("tally", "tally-2")]
    assert run.kinds == ["tally"]
    data = load_run(run)
    table = data.table("tally")
    assert table.to_dict("records") == [
        {"run": "run-1", "step": "tally-1", "round": 1, "count": 1, "seconds": 0.5},
        {"run": "run-1", "step": "tally-2", "round": 2, "count": 2, "seconds": 0.7}]
    assert table_names()[-1] == "tally"
    assert list(combine([data])) == ["tally"]
    drawn, skipped = draw_figures(combine([data]), tmp_path / "figures", workers=1)
    assert [f.name for f in drawn] == ["tally_times"] and skipped == []
    assert (tmp_path / "figures" / "tally_times.png").is_file()
    from analysis.records import records

    assert records(data)[["metric", "value", "unit", "direction", "key", "step"]].to_dict(
        "records") == [
        {"metric": "tally_seconds", "value": 0.5, "unit": "s", "direction": "lower",
         "key": "count=1", "step": None},
        {"metric": "tally_seconds", "value": 0.7, "unit": "s", "direction": "lower",
         "key": "count=2", "step": None}]


def test_a_recorded_kind_this_checkout_lacks_is_said_not_guessed(tmp_path):
    """Without the plugin registered, the run's tally logs are not guessed from their bytes:
    they are left out with a note, and a run of nothing else has no data."""
    import shutil

    from analysis.errors import AnalysisError
    from analysis.rundir import RunDir
    from tests.analysis.seed_data import TOPO_MAX6

    path = write_run(tmp_path / "results")
    with pytest.raises(AnalysisError, match="run-1: no run data found; expected"):
        RunDir.open(path)
    (path / "steps" / "topology-1").mkdir()
    shutil.copy(TOPO_MAX6, path / "steps" / "topology-1" / "log.txt")
    rows = json.loads((path / "steps.json").read_text())
    rows.append({"step": "topology-1", "kind": "topology", "status": "succeeded", "params": {}})
    (path / "steps.json").write_text(json.dumps(rows))
    run = RunDir.open(path)
    assert [(log.kind, log.step) for log in run.logs] == [("topology", "topology-1")]
    assert run.notes == [
        f"{path}/steps/{step}/log.txt: its step recorded kind 'tally', which no registered "
        "experiment kind is; not read" for step in ("tally-1", "tally-2")]
