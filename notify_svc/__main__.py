"""Run notify_svc alone: `python -m notify_svc` (settings from SHUTTER_* variables)."""

from mesh.launcher import run_service

if __name__ == "__main__":
    run_service("notify_svc")
