"""Runs against a baseline: every metric they share, with the statistics of `analysis.stats`.

Metrics are (metric, key) pairs with one value per observation: pull seconds per image, topology
step seconds per design/event/size, OSU wall seconds per benchmark and node count, app wall
times and figures of merit. OSU per-message-size values are single observations per run and are
left to the figures. Runs of different experiment definitions are refused unless forced; the
stacks' configuration differences are reported beside the numbers because they are the
explanation of any difference.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analysis.errors import AnalysisError, BadInput, ExperimentMismatch
from analysis.stats import compare_samples

if TYPE_CHECKING:
    import pandas as pd

COMPARE_COLUMNS = [
    "run", "metric", "key", "n_a", "median_a", "ci_low_a", "ci_high_a", "n_b", "median_b",
    "ci_low_b", "ci_high_b", "ratio", "p_value", "effect_size",
]


MATCH_MODES = ("image", "app")
BY_MODES = ("design",)


class ImageMatcher:
    """How pulls of different runs meet under one key.

    `image` (default): the image key (the chonk tag, else `name:tag`), registry-independent.
    `app`: the repository name without registry, tag or digest, so the same application
    mirrored into each cloud's registry under its own tag is one key. A mapping file (JSON or
    YAML object `{reference, name or repository: key}`) names the key of each image outright;
    images it does not name fall back to their repository name.
    """

    def __init__(self, mode: str = "image", mapping: dict[str, str] | None = None):
        self.mode = mode
        self.mapping = mapping or {}

    @classmethod
    def parse(cls, value: str) -> ImageMatcher:
        """`image`, `app` or the path of a mapping file; one-line errors otherwise."""
        from pathlib import Path

        if value in MATCH_MODES:
            return cls(value)
        path = Path(value)
        if not path.is_file():
            where = "--match"
            raise BadInput(where, value, "image, app, or a JSON/YAML mapping file that exists")
        return cls("app", _read_mapping(path))

    def key(self, ref: str, image: str) -> str:
        from analysis.events import repository_name

        if self.mapping:
            repo = repository_name(ref)
            for candidate in (ref, ref.partition("@")[0], image, repo):
                if candidate in self.mapping:
                    return self.mapping[candidate]
            return repo
        return repository_name(ref) if self.mode == "app" else image


def _read_mapping(path) -> dict[str, str]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        msg = (f"--match {path}: cannot read it ({str(exc).splitlines()[0]}); expected a JSON "
               "or YAML object")
        raise AnalysisError(msg) from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in doc.items()):
        where = f"--match {path}"
        raise BadInput(where, doc, "an object of image reference or name -> key (strings)")
    return doc


def observations(data, matcher: ImageMatcher | None = None, by: str | None = None):
    """Long table (metric, key, value) of one run's comparable observations: a view of its
    records (`analysis.records`)."""
    from analysis.records import records

    return records(data, matcher, by)[["metric", "key", "value"]]


def flatten(doc: object, prefix: str = "") -> dict[str, object]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay values."""
    if not isinstance(doc, dict):
        return {prefix: doc} if prefix else {}
    flat: dict[str, object] = {}
    for key, value in doc.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def differences(docs: dict[str, dict]) -> dict[str, dict[str, object]]:
    """Keys whose values differ between documents: key -> {run label: value or None}."""
    flat = {label: flatten(doc) for label, doc in docs.items()}
    keys = sorted(set().union(*flat.values())) if flat else []
    diff = {}
    for key in keys:
        values = {label: f.get(key) for label, f in flat.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            diff[key] = values
    return diff


@dataclass
class CompareResult:
    """What `study compare` prints."""

    runs: list[str]
    baseline: str
    rows: pd.DataFrame  # COMPARE_COLUMNS, one row per (run, metric, key) shared with the baseline
    experiment_differences: dict = field(default_factory=dict)
    config_differences: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        rows = self.rows.to_dict(orient="records")
        return {
            "runs": self.runs,
            "baseline": self.baseline,
            "experiment_match": not self.experiment_differences,
            "experiment_differences": self.experiment_differences,
            "config_differences": self.config_differences,
            "metrics": [{k: _json_value(v) for k, v in row.items()} for row in rows],
        }


def _json_value(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def experiment_of(data, matcher: ImageMatcher, by: str | None) -> dict:
    """The experiment definition as this comparison sees it: images under the matcher's keys,
    designs without their node count when comparing by design."""
    doc = data.experiment()
    pulls = data.table("pulls")
    if matcher.mode != "image" or matcher.mapping:
        doc = dict(doc)
        studied = pulls[pulls["role"] == "studied"] if not pulls.empty else pulls
        if doc.get("derived"):
            if not studied.empty:
                doc["images"] = sorted({matcher.key(r, i) for r, i in
                                        zip(studied["image_ref"], studied["image"], strict=True)})
        else:
            doc = _map_images(doc, lambda ref: matcher.key(ref, ref))
    if by == "design" and doc.get("derived"):
        topo = data.table("topology")
        doc = {k: v for k, v in doc.items() if k not in ("designs", "sizes_gb")}
        if not topo.empty:
            doc["design_kinds"] = sorted({str(t).rsplit("-", 1)[0]
                                          for t in topo["topology"].dropna()})
    return doc


def _map_images(node, fn):
    """A recorded experiment document with every `image`/`images` value under its key."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("image", "images"):
                values = value if isinstance(value, list) else [value]
                out[key] = sorted({fn(v) for v in values if isinstance(v, str)})
            else:
                out[key] = _map_images(value, fn)
        return out
    if isinstance(node, list):
        return [_map_images(item, fn) for item in node]
    return node


def check_by(by: str | None) -> None:
    """A one-line error for a `--by` other than the known ones."""
    if by is not None and by not in BY_MODES:
        where = "--by"
        raise BadInput(where, by, " or ".join(BY_MODES))


def compare_runs(datas, force: bool = False, match: str | ImageMatcher = "image",
                 by: str | None = None) -> CompareResult:
    """Compare runs 2..n with run 1 on every (metric, key) they share."""
    import pandas as pd

    matcher = match if isinstance(match, ImageMatcher) else ImageMatcher.parse(match)
    check_by(by)
    labels = [d.label for d in datas]
    if len(datas) < 2:
        msg = "compare needs at least two run directories"
        raise AnalysisError(msg)
    if len(set(labels)) != len(labels):
        msg = f"run labels repeat ({', '.join(labels)}); pass distinct run directories"
        raise AnalysisError(msg)
    exp_diff = differences({d.label: experiment_of(d, matcher, by) for d in datas})
    if exp_diff and not force:
        keys = ", ".join(sorted(exp_diff))
        msg = (f"experiment definitions differ between {', '.join(labels)} (keys: {keys}); "
               "compare runs of one experiment, or pass --force")
        raise ExperimentMismatch(msg)
    configs = differences({d.label: d.stack_config() for d in datas})
    base = observations(datas[0], matcher, by)
    base_groups = {k: g["value"].to_numpy() for k, g in base.groupby(["metric", "key"])}
    rows = []
    for data in datas[1:]:
        other = observations(data, matcher, by)
        for (metric, key), group in other.groupby(["metric", "key"]):
            if (metric, key) not in base_groups:
                continue
            c = compare_samples(base_groups[(metric, key)], group["value"].to_numpy())
            rows.append([data.label, metric, key, c.a.n, c.a.median, c.a.ci_low, c.a.ci_high,
                         c.b.n, c.b.median, c.b.ci_low, c.b.ci_high, c.ratio, c.p_value,
                         c.effect_size])
    return CompareResult(runs=labels, baseline=labels[0],
                         rows=pd.DataFrame(rows, columns=COMPARE_COLUMNS),
                         experiment_differences=exp_diff, config_differences=configs)
