"""Tests of genre_lightning.models."""
