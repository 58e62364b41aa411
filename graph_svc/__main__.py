"""Run graph_svc alone: `python -m graph_svc` (settings from SHUTTER_* variables)."""

from mesh.launcher import run_service

if __name__ == "__main__":
    run_service("graph_svc")
