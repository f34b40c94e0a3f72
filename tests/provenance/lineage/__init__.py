"""Tests of ``provenance.lineage`` (the test tree is the ``tests`` package, so nothing here
shadows the library)."""
