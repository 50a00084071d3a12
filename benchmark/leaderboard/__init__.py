"""Leaderboard tables and plots from the results database, and the CI MAE gate."""
