"""customer_segments: the Python side of the customer-segmentation dbt project.

Wings that follow the DAG: ``settings`` (every dbt var and environment variable, declared and parsed
once; a leaf), ``ingest`` (read a shop's export), ``products`` (product categories), ``segmentation``
(features, K-means, the choice of k, stability, ids, names), ``prediction`` (forecasts, the
first-purchase classifier, scoring) and ``delivery`` (publishing, the report, exports, the summary).
Development tools live outside the package: ``synthetic_shop`` (the embedded data set) and the top-level
``benchmarks`` folder.

Importing the package fixes every native thread pool (BLAS, OpenMP) of the process at one thread, once,
before our modules import numpy, scipy or scikit-learn:

- On a shared 2-core machine OpenMP threads fight each other (and dbt's own threads): K-means on 4,000
  customers took 1-3 s with the default threads and 0.05 s with one; one gradient-boosting fit was 10x
  slower.
- One thread makes floating-point sums independent of the machine's core count, so the same input gives
  the same bytes everywhere.
- It is set for the whole process, never per call: dbt runs Python models in threads of one process, and
  a per-call limit restored on exit by one model changed the thread count of another model mid-fit (its
  probabilities moved by up to 5e-9 between builds).

The variables are set, not defaulted: a thread count inherited from the shell would change the numbers.
Libraries loaded after this read them (OpenMP's then becomes the default of every thread, dbt's worker
threads included); pools a caller loaded before importing the package (numpy's OpenBLAS, say) are
limited once by threadpoolctl, whose BLAS limit is process-wide. test_determinism.py checks both kinds
of pool inside two dbt Python models running on two threads.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

from threadpoolctl import threadpool_limits  # noqa: E402  (after the variables, on purpose)

threadpool_limits(limits=1)

__version__ = "0.1.0"
