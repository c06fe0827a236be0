"""Campaign files are checked as strictly as stack files: one line per problem, naming the key,
the value and what is allowed, with a "did you mean"; members expand in the declared order."""

from __future__ import annotations

import pytest

from core.errors import SpecError, StudyError
from core.stacks import project_dir
from study.campaign.spec import Campaign, CampaignSpec, campaign_names, load_campaign


def write(tmp_path, text: str, name: str = "sweep"):
    """A project with the shipped stacks and one campaign file."""
    root = tmp_path / "project"
    (root / "campaigns").mkdir(parents=True)
    (root / "stacks").symlink_to(project_dir() / "stacks")
    (root / "Pulumi.yaml").write_text("name: study-harness\n")
    (root / "campaigns" / f"{name}.yaml").write_text(text)
    return root


GOOD = """
base: gke-4-nightly
sweep: {node_count: [8, 2, 4]}
budget: {usd: 50, max_hours: 6}
"""


def problems(root, name: str = "sweep") -> list[str]:
    with pytest.raises(SpecError) as info:
        load_campaign(name, root)
    return info.value.problems


def test_a_good_file_expands_into_members_in_ascending_order(tmp_path):
    c = load_campaign("sweep", write(tmp_path, GOOD))
    assert [(m.name, m.nodes) for m in c.members()] == [
        ("gke-4-nightly-n2", 2), ("gke-4-nightly-n4", 4), ("gke-4-nightly-n8", 8)]


def test_order_as_listed_and_descending(tmp_path):
    listed = load_campaign("sweep", write(tmp_path, GOOD + "order: as-listed\n"))
    assert [m.nodes for m in listed.members()] == [8, 2, 4]
    down = load_campaign("sweep", write(tmp_path / "b", GOOD + "order: descending\n"))
    assert [m.nodes for m in down.members()] == [8, 4, 2]


def test_an_unknown_key_says_did_you_mean(tmp_path):
    root = write(tmp_path, GOOD + "parallell: true\n")
    assert problems(root) == ["campaigns/sweep.yaml: parallell: unknown key; did you mean "
                              "'parallel'?"]


def test_a_misspelt_sweep_key_names_its_place(tmp_path):
    root = write(tmp_path, GOOD.replace("node_count", "node_counts"))
    assert problems(root) == [
        "campaigns/sweep.yaml: sweep.node_count: required key is missing",
        "campaigns/sweep.yaml: sweep.node_counts: unknown key; did you mean 'node_count'?",
    ]


def test_node_counts_out_of_range_or_repeated_are_refused(tmp_path):
    root = write(tmp_path, GOOD.replace("[8, 2, 4]", "[2, 0]"))
    assert problems(root) == ["campaigns/sweep.yaml: sweep.node_count: [2, 0] is not allowed; "
                              "0 is out of range; node counts are 1 to 1000"]
    root = write(tmp_path / "b", GOOD.replace("[8, 2, 4]", "[2, 4, 2]"))
    assert problems(root) == ["campaigns/sweep.yaml: sweep.node_count: [2, 4, 2] is not "
                              "allowed; 2 is listed twice; each node count is one member"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    pytest.param("[8, 2, 4]", "[true]",
                 "campaigns/sweep.yaml: sweep.node_count[0]: True is not allowed; input should "
                 "be a valid integer", id="a node count is a number, not true"),
    pytest.param("gke-4-nightly", "gke-4-nighty",
                 "campaigns/sweep.yaml: base: 'gke-4-nighty' is not a stack in stacks/; did you "
                 "mean 'gke-4-nightly'?", id="an unknown stack says did you mean"),
    pytest.param("sweep: {node_count: [8, 2, 4]}",
                 "sweep: {node_count: [2], stacks: [eks-2-smoke]}",
                 "campaigns/sweep.yaml: base: 'gke-4-nightly' is not allowed with sweep.stacks; "
                 "name the stacks in one place", id="base and a list of stacks: one or the other"),
    pytest.param("usd: 50", "usd: .inf",
                 "campaigns/sweep.yaml: budget.usd: inf is not allowed; input should be a finite "
                 "number", id="a budget must be finite"),
])
def test_one_wrong_value_is_one_line_naming_it(tmp_path, old, new, expected):
    root = write(tmp_path, GOOD.replace(old, new))
    assert problems(root) == [expected]


def test_an_unknown_campaign_says_did_you_mean(tmp_path):
    root = write(tmp_path, GOOD)
    with pytest.raises(StudyError) as info:
        load_campaign("swep", root)
    assert str(info.value) == (f"campaign 'swep' not found in {root / 'campaigns'}; did you "
                               "mean 'sweep'?")


def test_a_file_that_is_not_a_mapping(tmp_path):
    root = write(tmp_path, "- 4\n- 8\n")
    assert problems(root) == ["campaigns/sweep.yaml: is a list; a campaign file is a mapping "
                              "(base, sweep, order, budget)"]


def test_repeated_keys_are_refused_by_the_stack_reader(tmp_path):
    root = write(tmp_path, GOOD + "order: ascending\norder: descending\n")
    with pytest.raises(StudyError) as info:
        load_campaign("sweep", root)
    assert str(info.value) == ("sweep.yaml: key 'order' appears twice, at lines 5 and 6; keep "
                               "one (the later would silently replace the first)")


def test_overrides_carry_the_node_count_the_whole_budget_and_a_lifetime_for_the_sweep():
    spec = CampaignSpec.model_validate({"base": "gke-4-nightly", "sweep": {"node_count": [4]},
                                        "budget": {"usd": 50, "max_hours": 6.5}})
    c = Campaign("x", project_dir() / "campaigns" / "x.yaml", spec)
    (m,) = c.members()
    assert c.overrides(m) == {"study:cluster": {"node_count": 4},
                              "study:budget": {"usd": 50.0, "max_hours": 6.5},
                              "study:ttl": "7h"}


def test_an_experiment_param_sweep_sets_the_members_own_size():
    spec = CampaignSpec.model_validate({"base": "gke-64-osu", "budget": {"usd": 5, "max_hours": 1},
                                        "sweep": {"node_count": [8],
                                                  "experiment_param": "node_counts"}})
    c = Campaign("x", project_dir() / "campaigns" / "x.yaml", spec)
    (m,) = c.members()
    exp = {"kind": "osu", "params": {"node_counts": [4, 8, 16], "iterations": 2}}
    assert c.overrides(m, exp)["study:experiment"] == {
        "kind": "osu", "params": {"node_counts": [8], "iterations": 2}}


def test_every_shipped_campaign_loads():
    names = campaign_names(project_dir())
    assert names == ["osu", "pulling-run1", "pulling-run2", "pulling-run3", "pulling-run4",
                     "topology"]
    for name in names:
        assert load_campaign(name).members()
