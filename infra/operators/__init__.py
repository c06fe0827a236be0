"""Cluster operators (Flux Operator, metrics-operator, JobSet, event recorder), their manifests."""
