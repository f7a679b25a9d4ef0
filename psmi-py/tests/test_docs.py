"""The docstrings' examples and the README's Python quick start run as shown."""

import doctest
import re
from pathlib import Path

import numpy as np
import pytest

import psmi_rs
from psmi_rs import _estimator, _model, _sweep

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("module", [psmi_rs, _estimator, _model, _sweep])
def test_docstring_examples(module):
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_readme_quick_start_runs():
    text = README.read_text()
    after_install = text.split("pip install ./psmi-py", 1)[1]
    block = re.search(r"```python\n(.*?)```", after_install, re.S).group(1)
    assert len(block.strip().splitlines()) == 3
    scope = {}
    exec(block, scope)
    mean, std, full, y = scope["mean"], scope["std"], scope["full"], scope["y"]
    assert mean.shape == std.shape == y.shape and full.shape[0] == len(y)
    assert np.isfinite(mean).all()


def test_every_public_name_has_a_numpydoc_docstring():
    for name in psmi_rs.__all__:
        obj = getattr(psmi_rs, name)
        if isinstance(obj, str):
            continue
        assert obj.__doc__ and len(obj.__doc__) > 80, name
        for attr, member in vars(obj).items():
            if not attr.startswith("_") and (callable(member) or isinstance(member, property)):
                assert getattr(member, "__doc__", None), f"{name}.{attr}"
