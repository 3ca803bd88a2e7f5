"""Plan models: the family table (:mod:`research.models.families`) and its estimators, fitting
(:mod:`research.models.fit`), tidy tables, predictions, survey-weighted refits, tolerance
thresholds and the whole plan run (:mod:`research.models.run`). Estimators written where no
library does the job well; each module says why."""
