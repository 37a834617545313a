"""Unit tests: one folder per stage (cpt64640_cds.STAGES), each calling the stage's functions directly.

No servers, no HTTP, no database. Facts for rule tests come from `factory.py`; knowledge entities are always
the loaded knowledge base's own.
"""
