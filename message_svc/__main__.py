"""Run message_svc alone: `python -m message_svc` (settings from SHUTTER_* variables)."""

from mesh.launcher import run_service

if __name__ == "__main__":
    run_service("message_svc")
