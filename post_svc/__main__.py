"""Run post_svc alone: `python -m post_svc` (settings from SHUTTER_* variables)."""

from mesh.launcher import run_service

if __name__ == "__main__":
    run_service("post_svc")
