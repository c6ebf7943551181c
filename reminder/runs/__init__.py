"""The runs: the reminder run, the weekly digest run, delivery and how runs are recorded."""
