"""Generate generated/ from protos/ with grpc_tools.protoc: messages, .pyi stubs and gRPC stubs."""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED = ROOT / "generated"
PROTO_DEPS = ROOT / ".proto-deps"
# The googleapis protos our contracts import; buf reads them from PROTO_DEPS.
GOOGLEAPIS_IMPORTS = ("google/api/annotations.proto", "google/api/http.proto")


def _include_dirs() -> list[Path]:
    """Return protoc's include path: ours, protobuf's well-known types, googleapis' google/api."""
    import google.api.annotations_pb2 as annotations
    import grpc_tools

    googleapis_root = Path(annotations.__file__).resolve().parents[2]
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    return [PROTOS, well_known, googleapis_root]


def _plugin(name: str) -> Path:
    """Return the path of a protoc plugin installed beside this interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            raise RuntimeError(f"protoc plugin {name} is not installed (pip install mypy-protobuf)")
        path = Path(found)
    return path


def generate(out_dir: Path) -> None:
    """Compile every proto under protos/ into out_dir, with package __init__ files."""
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        *(f"-I{d}" for d in _include_dirs()),
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    # The mypy plugin announces every file it writes on stderr; keep that chatter unless protoc
    # fails, when it is the context of the error.
    with tempfile.TemporaryFile() as chatter:
        saved = os.dup(2)
        os.dup2(chatter.fileno(), 2)
        try:
            status = protoc.main(args)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if status != 0:
            chatter.seek(0)
            sys.stderr.write(chatter.read().decode(errors="replace"))
            raise RuntimeError("protoc failed; see the messages above")
    for package_dir in [out_dir / "shutter", *(out_dir / "shutter").rglob("*")]:
        if package_dir.is_dir() and package_dir.name != "__pycache__":
            init = package_dir / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated from protos/ by `shutter gen`; do not edit."""\n')
    (out_dir / "shutter" / "py.typed").write_text("")


def export_proto_deps() -> None:
    """Copy the googleapis protos we import from the installed package to .proto-deps/ for buf."""
    googleapis_root = _include_dirs()[2]
    for rel in GOOGLEAPIS_IMPORTS:
        target = PROTO_DEPS / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(googleapis_root / rel, target)


def _tree(root: Path) -> set[Path]:
    return {
        p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


def stale_files() -> list[str]:
    """Return the files of generated/ that differ from what the protos produce now."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        ours, theirs = _tree(GENERATED), _tree(fresh)
        differ = sorted(str(p) for p in ours ^ theirs)
        for rel in ours & theirs:
            if not filecmp.cmp(GENERATED / rel, fresh / rel, shallow=False):
                differ.append(str(rel))
        return sorted(differ)


def regenerate() -> None:
    """Replace generated/ with a fresh compilation of protos/."""
    if GENERATED.exists():
        shutil.rmtree(GENERATED)
    generate(GENERATED)
