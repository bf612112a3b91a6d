"""Classifiers fitted once per process and shared by the models that fit the same one on the same rows.

first_purchase_segment_predictions and segment_classifier_feature_importance fit the same two
time-split models (logistic regression, gradient boosting) on the same train sample; dbt runs both in
threads of one process. A fit is a pure function of (the model and its settings, the rows), so the
second model gets the pipeline the first fitted, which both only read (predict_proba), instead of a
refit that would give the same bits. The rows are keyed by a hash and confirmed by comparing them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from customer_segments.segmentation.shared import ProcessStore

#: Fitted pipelines kept (a few hundred kB each), least recently used dropped first: each counts 1.
MAX_SHARED_FITS = 8
_FITS = ProcessStore(MAX_SHARED_FITS)


def shared_fit(name: tuple, make: Callable[[], Pipeline], x: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """``make().fit(x, y)``, fitted once per process for the same ``name`` (the model and everything
    ``make`` reads, JSON-serialisable) and the same rows; callers must not refit or change the result."""
    digest = hashlib.blake2b(json.dumps([list(name), list(x.columns)], default=str).encode(), digest_size=20)
    digest.update(pd.util.hash_pandas_object(x, index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    key = (digest.digest(),)
    stored = _FITS.get(key)
    if stored is not None and stored[0].equals(x) and np.array_equal(stored[1], y):
        return stored[2]
    model = make().fit(x, y)
    _FITS.put(key, (x.copy(), np.array(y), model), 1)
    return model
