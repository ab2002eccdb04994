"""The analysis core's documentation: every public entry point has an example, and every example runs.

Examples are doctests: a changed result or signature fails here, so the
documentation cannot drift from the code. Parameter texts are written once in
:mod:`facs_core.docstrings`; a docstring naming one that does not exist must
fail at import time.
"""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

from facs_core import stats, wavelets
from facs_core.docstrings import fill_doc

#: Modules whose docstring examples run.
MODULES = (
    "facs_core.docstrings",
    "facs_core.services.executors",
    "facs_core.services.jobs",
    "facs_core.cli.options",
    "facs_core.datasets",
    "facs_core.features",
    "facs_core.stats.distributions",
    "facs_core.stats.multicomp",
    "facs_core.stats.partial_corr",
    "facs_core.stats.mixed",
    "facs_core.stats.permutation",
    "facs_core.stats.profile",
    "facs_core.wavelets",
    "facs_core.wavelets.transform",
    "facs_core.wavelets.features",
    "facs_core.wavelets.association",
    # The Patient profile's sentences (counted nouns, verbs that agree).
    "web.profile",
)


def _public_callables(package: object) -> list[str]:
    names = []
    for name in package.__all__:
        value = getattr(package, name)
        if inspect.isfunction(value) or name == "FilterBank":
            names.append(f"{package.__name__}.{name}")
    return names


#: The entry points a user of the library starts from: every function the
#: stats and wavelets packages export, the repeated-visit methods and the
#: per-video feature tables.
ENTRY_POINTS = (
    *_public_callables(stats),
    "facs_core.stats.mixed.mixed_model_associations",
    "facs_core.stats.permutation.permutation_pvalues",
    *_public_callables(wavelets),
    "facs_core.features.per_video_features",
    "facs_core.features.features_from_shards",
)


def _resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    report: list[str] = []
    for test in finder.find(module, module_name, globs=vars(module).copy()):
        # Only examples written in this module, not those of names it imports.
        if test.filename and inspect.getsourcefile(module) != test.filename:
            continue
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{module_name} has no example"
    assert results.failed == 0, "".join(report)


@pytest.mark.parametrize("dotted", ENTRY_POINTS)
def test_entry_point_has_an_example(dotted: str) -> None:
    doc = inspect.getdoc(_resolve(dotted)) or ""
    _, found, examples = doc.partition("\nExamples\n--------\n")
    assert found and ">>>" in examples, f"{dotted} has no Examples section with a runnable example"


def test_unknown_parameter_name_fails_at_definition() -> None:
    def documented(fps: float) -> float:
        """Rate.

        Parameters
        ----------
        %(fsp)s
        """
        return fps

    with pytest.raises(KeyError, match="fsp"):
        fill_doc(documented)


def test_shared_text_is_indented_to_the_placeholder() -> None:
    class Holder:
        def method(self, fps: float) -> float:
            """Rate.

            Parameters
            ----------
            %(fps)s
            """
            return fps

    lines = fill_doc(Holder.method).__doc__.splitlines()
    entry = lines.index("            fps : float")
    assert lines[entry + 1].startswith("                Frame rate of the videos")
