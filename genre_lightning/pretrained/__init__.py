"""Pretrained networks from other projects: fetching their files and reading their weights."""
