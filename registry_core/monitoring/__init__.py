"""Data quality and the feedback loop: prediction logs, feedback, training-data profiles and drift."""
