"""Tests of ``provenance.lineage`` — and the one line of glue that lets them live here.

pytest (prepend import mode) imports ``tests/provenance`` as the package ``provenance``; the
library's subpackages are then found through the editable install, except a subpackage whose
name a folder here also has: this folder would shadow the library's ``provenance.lineage`` in
every test session. So this module makes itself the library package: the library folder comes
first on ``__path__`` and the library's ``__init__`` runs here. ``provenance.lineage.<module>``
then imports the library's modules and ``from provenance.lineage import X`` its API, whoever
imports it first; the test modules are found second on ``__path__``. (``--import-mode=importlib``
for the whole suite would make this unnecessary.)
"""

from pathlib import Path as _Path

_LIBRARY = _Path(__file__).resolve().parents[3] / "provenance" / "lineage"
if _LIBRARY.is_dir() and str(_LIBRARY) not in __path__:
    __path__.insert(0, str(_LIBRARY))
    _init = _LIBRARY / "__init__.py"
    exec(compile(_init.read_text(encoding="utf-8"), str(_init), "exec"))
