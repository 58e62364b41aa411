"""Load generators and benchmark scenarios (not part of the test run)."""
