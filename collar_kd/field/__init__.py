"""Field use of a trained run on recordings without labels: whole recordings cut into sliding
windows, classified, smoothed over time, and turned into bouts and daily time budgets."""
