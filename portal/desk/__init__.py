"""The front desk: the day board, finding and booking for patients, walk-ins, staff."""
