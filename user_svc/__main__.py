"""Run user_svc alone: `python -m user_svc` (settings from SHUTTER_* variables)."""

from mesh.launcher import run_service

if __name__ == "__main__":
    run_service("user_svc")
