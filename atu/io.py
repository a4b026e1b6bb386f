"""Writing output folders so that nothing already saved is lost or half-written."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path


def _distributed_state():
    """accelerate's PartialState when this process is one of several (launched by accelerate, torchrun or
    debug_launcher), else None: a single process is its own main process, and creating the state there could
    fix its device before an Accelerator(cpu=...) asks for another."""
    from accelerate.state import PartialState

    if PartialState._shared_state or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return PartialState()
    return None


def check_output_dir(out: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse an existing non-empty `out` unless overwrite=True. Every command that trains calls it first, so that
    a taken folder fails at once, not after the hours of training (atomic_output_dir checks again at the end)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty: choose another --out or pass --overwrite")


@contextlib.contextmanager
def atomic_output_dir(out: str | os.PathLike, overwrite: bool = False):
    """Yield a fresh temporary folder beside `out`; on success it replaces `out` in one rename, on error it is
    deleted and `out` is untouched. An existing non-empty `out` is an error unless overwrite=True.

    Every folder atu writes goes through here, so this is its main-process guard (lucidrains' `Trainer.save`
    pattern): under several processes each one runs the same code, but only the main process writes `out`; the
    others write into a scratch folder that is thrown away, and all wait until `out` is complete."""
    out = Path(out)
    state = _distributed_state()
    check_output_dir(out, overwrite)   # every process checks: none waits for a failed one
    if state is not None:   # and all have checked before the main process starts writing
        state.wait_for_everyone()
    if state is not None and not state.is_main_process:
        scratch = Path(tempfile.mkdtemp(prefix=f"atu-rank{state.process_index}-"))
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        state.wait_for_everyone()
        return
    with _replace_dir(out) as tmp:
        yield tmp
    if state is not None:
        state.wait_for_everyone()


@contextlib.contextmanager
def _replace_dir(out: Path):
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file through a temporary file beside it and one rename: `path` is either untouched or complete."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj) -> None:
    """JSON with dataclasses expanded, sorted keys, trailing newline."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike):
    """The inverse of write_json."""
    return json.loads(Path(path).read_text())


def dataclass_from_dict(cls, d: dict):
    """The inverse of write_json for a config dataclass: nested dataclass fields (default_factory) are rebuilt,
    keys the class does not know are refused (a record from another version should fail loudly)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    kw = {}
    for name, v in d.items():
        f = fields[name]
        if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory()):
            v = dataclass_from_dict(type(f.default_factory()), v)
        kw[name] = v
    return cls(**kw)
