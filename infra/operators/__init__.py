"""Cluster operators (Flux Operator, metrics-operator, JobSet, event recorder) and their manifests."""
