"""The newcomer prior's parameters, which the ledger computes with and clients route by (pure).

A server the ledger has not checked starts from the recent newcomer cohort's pass rate, kept within
[``PRIOR_MEAN_FLOOR``, ``PRIOR_MEAN_CAP``] (``ledger.reputation``). A client scales its exploration budget by
how close the current prior is to the cap, and assumes ``COHORT_START`` of everyone when no ledger answers.
"""

from __future__ import annotations

from swarmtrust.protocol.beta import Beta

COHORT_START = Beta.with_mean(0.8, 2.0)  # the newcomer cohort before any newcomer has been checked
PRIOR_STRENGTH = 2.0  # pseudo-checks in a newcomer's prior
PRIOR_MEAN_CAP = 0.9  # a newcomer never starts above this ...
PRIOR_MEAN_FLOOR = 0.3  # ... nor below this
