"""Bills (核算): bill runs, bill lines, the review queue (电费复核) and re-billing (退补)."""
