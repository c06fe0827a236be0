"""Analysis of collected runs: raw files in, tidy tables, figures, statistics and reports out.

It reads the harness's run directories (`results/<stack>/<run-id>/`) and the seed studies' raw
files alike, so it never waits for cloud work. Nothing here talks to a cluster or the network.
"""
