"""``python -m customer_segments.delivery.report``: write the report (see the package docstring)."""

import sys

from customer_segments.delivery.report import main

sys.exit(main())
