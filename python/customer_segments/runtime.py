"""One BLAS/OpenMP thread for every fit.

On a shared 2-core machine scikit-learn's OpenMP threads fight each other: K-means on 4,000 customers
took 1-3 s with the default threads and 0.05 s with one. One thread also makes floating-point sums
independent of the machine's core count, so the same input gives the same output everywhere.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

from threadpoolctl import threadpool_limits

F = TypeVar("F", bound=Callable)


def single_threaded(function: F) -> F:
    """Run ``function`` with native thread pools limited to one thread."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
