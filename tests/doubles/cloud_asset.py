"""An in-memory Cloud Asset Inventory behind `AssetServiceClient.search_all_resources`.

It answers the way the real API does for what the harness asks (googleapis/google-cloud-python,
packages/google-cloud-asset, google/cloud/asset_v1/services/asset_service/client.py, 3.x; query
syntax: cloud.google.com/asset-inventory/docs/search-query-syntax): the request is a
`SearchAllResourcesRequest` or a dict of its fields, `scope` must be `projects/<id>` (others
are refused with INVALID_ARGUMENT, as the API refuses a malformed scope), a `labels.<key>:<value>`
query matches a resource whose label `key` holds `value` as a word or a word prefix (`:` is the
"has" operator, not equality: `labels.stack:gke-4` also finds `stack=gke-4-nightly`, so the
caller compares exactly), and results are real
`ResourceSearchResult` messages, iterated across pages like the client's pager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from google.api_core.exceptions import InvalidArgument
from google.cloud import asset_v1

QUERY = re.compile(r"^labels\.(?P<key>[a-z0-9_-]+):(?P<value>[a-z0-9_.-]+)$")


@dataclass
class FakeAssetInventory:
    """Resources per project; `client()` makes a client over them (the inventory's factory)."""

    resources: dict[str, list[asset_v1.ResourceSearchResult]] = field(default_factory=dict)
    requests: list[asset_v1.SearchAllResourcesRequest] = field(default_factory=list)
    page_size: int = 2

    def add(self, project: str, asset_type: str, path: str, labels: dict[str, str],
            location: str = "") -> None:
        """A resource named like the real API names it: //<service>/projects/<p>/<path>."""
        service = asset_type.split("/", 1)[0]
        self.resources.setdefault(project, []).append(asset_v1.ResourceSearchResult(
            name=f"//{service}/projects/{project}/{path}", asset_type=asset_type,
            project=f"projects/{project}", display_name=path.rsplit("/", 1)[-1],
            location=location, labels=labels))

    def delete(self, project: str, display_name: str) -> None:
        self.resources[project] = [r for r in self.resources.get(project, [])
                                   if r.display_name != display_name]

    def client(self) -> FakeAssetServiceClient:
        return FakeAssetServiceClient(self)


class FakeAssetServiceClient:
    def __init__(self, inventory: FakeAssetInventory):
        self._inv = inventory

    def search_all_resources(self, request=None, *, scope=None, query=None, asset_types=None):
        if request is None:
            request = {"scope": scope, "query": query, "asset_types": asset_types or []}
        req = asset_v1.SearchAllResourcesRequest(request)
        self._inv.requests.append(req)
        if not req.scope.startswith("projects/") or "/" in req.scope.removeprefix("projects/"):
            msg = f"Invalid scope: {req.scope}"
            raise InvalidArgument(msg)
        match = QUERY.match(req.query)
        if match is None:
            msg = f"Invalid query: {req.query}"
            raise InvalidArgument(msg)
        key, value = match["key"], match["value"]
        found = [r for r in self._inv.resources.get(req.scope.removeprefix("projects/"), [])
                 if value in _tokens(r.labels.get(key))]
        # The real call fetches the first page before returning its pager: errors surface here.
        pages = [found[i:i + self._inv.page_size]
                 for i in range(0, len(found), self._inv.page_size)]
        return (result for page in pages for result in page)


def _tokens(label_value: str | None) -> set[str]:
    """A label value as the search index splits it: the whole value and its `-`/`_`/`.` parts."""
    if not label_value:
        return set()
    parts = re.split(r"[-_.]", label_value)
    return {label_value, *parts, *("-".join(parts[:i]) for i in range(1, len(parts) + 1))}
