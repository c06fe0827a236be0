"""`study plan` shows the guard: when it scales the nodes to zero, where it records, as whom."""

from __future__ import annotations

from study.plan import make_plan


def test_plan_lines_and_json():
    plan = make_plan("gke-64-localssd")
    assert plan.ok, plan.violations
    rows = dict(plan.guard_rows())
    project = "study-harness-sandbox"
    assert rows["guard"] == ("CronJob study-harness/study-guard (*/5 * * * *), scales "
                             "gke-64-localssd-pool to zero")
    hours = plan.to_json()["guard"]["deadline_hours"]
    assert rows["deadline"] == (f"{hours:.2f} h after cluster creation (the earlier of "
                                "budget.max_hours and budget.usd / price per hour)")
    assert rows["grace"] == "15 min after the last step's results are in the bucket"
    assert rows["bucket"] == f"study-results-{project}"
    assert rows["records"] == f"gs://study-results-{project}/gke-64-localssd/$(RUN_ID)/guard/"
    assert rows["identity"] == (
        f"study-harness/guard-gke-64-localssd -> guard-gke-64-localssd@{project}"
        ".iam.gserviceaccount.com "
        "(Workload Identity (roles/iam.workloadIdentityUser))")
    assert rows["permissions"] == ("compute.instanceGroupManagers.get, container.clusters.get, "
                                   "container.clusters.update, container.operations.get")
