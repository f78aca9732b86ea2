"""Tests of genre_lightning.pretrained."""
