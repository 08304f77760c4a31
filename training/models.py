"""Every model this project trains and exports, by name: adding one is one module plus a line here.

A generator module provides DEFAULTS, add_arguments, Recipe (training/train.py's loop trains it) and
ARTIFACT, TITLE, ABOUT, shipped (export/ writes it); the judge's module only the latter four.
"""
from __future__ import annotations

from training import cgan, classifier, cvae

GENERATORS = {"cvae": cvae, "cgan": cgan}
EXPORTABLE = {**GENERATORS, "judge": classifier}
