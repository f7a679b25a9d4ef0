"""Exceptions of :mod:`psmi_rs` beyond the built-in ones."""


class TooFewSamplesError(ValueError, RuntimeError):
    """A label has fewer than two samples, so no Gaussian can be fitted to it.

    A :class:`ValueError` (bad input), and also a :class:`RuntimeError`,
    which is what the package ``psmi`` raises in this case, so that code
    written for it keeps catching it.
    """
