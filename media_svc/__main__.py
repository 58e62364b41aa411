"""Run media_svc alone: `python -m media_svc` (settings from SHUTTER_* variables)."""

from mesh.launcher import run_service

if __name__ == "__main__":
    run_service("media_svc")
