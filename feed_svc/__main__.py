"""Run feed_svc alone: `python -m feed_svc` (settings from SHUTTER_* variables)."""

from mesh.launcher import run_service

if __name__ == "__main__":
    run_service("feed_svc")
