"""Stage 3, representativeness: who answered against who complained, and weights.

- :mod:`research.representativeness.nonresponse` -- response propensity models
  and the comparison of respondents with the work-order population;
- :mod:`research.representativeness.run` -- the stage: weights (raking or
  propensity), their diagnostics, weighted-against-unweighted estimates, and the
  files it writes.
"""

from research.representativeness.run import (analyse_representativeness, make_weights,
                                              respondent_frame, write_representativeness)

__all__ = ["analyse_representativeness", "make_weights", "respondent_frame",
           "write_representativeness"]
