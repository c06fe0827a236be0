"""`study compare RUN_DIR_A RUN_DIR_B ...`: shared metrics of runs against the first one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from study.cli.analyze import Labels, Nodes

RunDirs = Annotated[list[Path], typer.Argument(
    metavar="RUN_DIR_A RUN_DIR_B ...",
    help="Two or more run directories; the first is the baseline.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ForceFlag = Annotated[bool, typer.Option(
    "--force", help="Compare even when the runs' experiment definitions differ.")]
MatchOption = Annotated[str, typer.Option(
    "--match", help="How pulls of different runs meet: image (tag, registry-independent), app "
                    "(repository name without registry and tag), or a JSON/YAML file mapping "
                    "references or names to keys.")]
ByOption = Annotated[str | None, typer.Option(
    "--by", help="design: compare topology steps by overlay design, whatever the node count.")]


def _num(value: float) -> str:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "" if missing else f"{value:.4g}"


def _ci(median: float, low: float, high: float) -> str:
    if math.isnan(low):
        return _num(median)
    return f"{_num(median)} [{_num(low)}, {_num(high)}]"


def _human_tables(result):
    """(config differences, metrics) as display DataFrames."""
    import pandas as pd

    config_rows = [[key, *(str(values.get(r, "")) for r in result.runs)]
                   for key, values in result.config_differences.items()]
    config = pd.DataFrame(config_rows or [["(none)", *[""] * len(result.runs)]],
                          columns=["config key", *result.runs])
    rows = result.rows
    a = zip(rows["median_a"], rows["ci_low_a"], rows["ci_high_a"], strict=True)
    b = zip(rows["median_b"], rows["ci_low_b"], rows["ci_high_b"], strict=True)
    metrics = pd.DataFrame({
        "run": rows["run"], "metric": rows["metric"], "key": rows["key"],
        # How many observations each side has: a p of 1 and a delta of -1 from one value
        # against one are no finding, and the reader must see that beside them.
        f"n {result.baseline}/run": [f"{a}/{b}" for a, b in zip(rows["n_a"], rows["n_b"],
                                                                 strict=True)],
        f"median {result.baseline} [95% CI]": [_ci(*v) for v in a],
        "median run [95% CI]": [_ci(*v) for v in b],
        "ratio": rows["ratio"].map(_num),
        "p (MWU)": rows["p_value"].map(_num),
        "Cliff's delta": rows["effect_size"].map(_num),
    })
    return config, metrics


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(run_dirs: RunDirs, json_out: JsonFlag = False, force: ForceFlag = False,
                match: MatchOption = "image", by: ByOption = None, label: Labels = None,
                nodes: Nodes = None) -> None:
        """Medians with 95% CIs, ratio, Mann-Whitney p and Cliff's delta for every shared metric."""
        import orjson

        from analysis.compare import ImageMatcher, check_by, compare_runs
        from analysis.pipeline import load_runs
        from study.cli.analyze import check_run_dirs, print_table, run_args
        from study.console import out_console, warn

        check_run_dirs("compare", run_dirs, at_least=2)
        matcher = ImageMatcher.parse(match)  # bad --match or --by fail before any file is read
        check_by(by)
        result = compare_runs(load_runs(run_args("compare", run_dirs, label), nodes),
                              force=force, match=matcher, by=by)
        if result.experiment_differences:
            warn("experiment definitions differ (--force): "
                 + ", ".join(sorted(result.experiment_differences)))
        if result.rows.empty:
            warn("the runs share no metric")
        if json_out:
            text = orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode()
            out_console().file.write(text + "\n")
            return
        config, metrics = _human_tables(result)
        print_table(config, "Stack configuration differences")
        print_table(metrics, f"Shared metrics against {result.baseline}")
