"""Model estimators written where no library does the job well; each module says why."""
