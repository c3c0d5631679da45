"""Data quality and monitoring: training-data profiles, schema checks, drift, prediction logs and live quality."""
