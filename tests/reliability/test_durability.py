"""Durable across an OS crash: the local backend's system calls, traced with strace, come in the order POSIX needs.

A write survives a power loss only if its file is fsynced before it gets its name (rename, link) and the folder
holding the name is fsynced after; a new folder's name is an entry of its parent. A crash cannot be staged here, so
these tests run the writes in a subprocess under ``strace -f -y`` (which names the file behind each descriptor) and
check the order of the calls that matter. `make test` installs strace (Debian's package) when it is missing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT_NAME = "registry"
_CALLS = "fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat,rmdir,mkdir,mkdirat,openat"
_LINE = re.compile(r"^(?P<pid>\d+) +(?P<rest>.*)$")
# A path argument, with the folder descriptor before it that a *at call resolves it against (strace -y names it).
_PATH = re.compile(r'(?:(?:AT_FDCWD|\d+)<(?P<folder>[^>]*)>, )?"(?P<path>(?:[^"\\]|\\.)*)"')
_DESCRIPTOR = re.compile(r"^\d+<(?P<path>[^>]*)>")


@dataclass
class Call:
    """One system call: its name, the paths it names (absolute), when it started and ended (line numbers), result."""

    name: str
    paths: list[str]
    start: int
    end: int
    result: str
    flags: str = ""


def run_traced(script: str, tmp_path: Path, *args: str, options: tuple[str, ...] = ()) -> str:
    """Run `script` (Python, cwd `tmp_path`) under strace (with `options`); return what it printed."""
    completed = subprocess.run(  # noqa: S603 - strace and our interpreter
        ["strace", "-f", "-qq", "-y", "-e", f"trace={_CALLS}", *options, "-o", str(tmp_path / "strace.txt"),
         sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False, env=os.environ.copy(),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def trace(script: str, tmp_path: Path, *args: str, options: tuple[str, ...] = ()) -> list[Call]:
    """Run `script` like `run_traced` and return the calls that matter, in order."""
    run_traced(script, tmp_path, *args, options=options)
    return parse((tmp_path / "strace.txt").read_text(), tmp_path)


def parse(text: str, cwd: Path) -> list[Call]:
    """Turn strace's output into calls; an unfinished call ends where strace says it resumed."""
    calls: list[Call] = []
    open_calls: dict[str, Call] = {}
    for number, line in enumerate(text.splitlines()):
        match = _LINE.match(line)
        if match is None:
            continue
        pid, rest = match["pid"], match["rest"]
        if rest.startswith("<..."):
            call = open_calls.pop(pid)
            call.end = number
            call.result = rest.rpartition("=")[2].strip()
            continue
        name, _, arguments = rest.partition("(")
        call = Call(name, _paths(name, arguments, cwd), number, number, rest.rpartition("=")[2].strip())
        call.flags = arguments
        if rest.endswith("<unfinished ...>"):
            open_calls[pid] = call
        calls.append(call)
    return [c for c in calls if not c.result.startswith("-1")]


def _paths(name: str, arguments: str, cwd: Path) -> list[str]:
    if name in ("fsync", "fdatasync"):
        described = _DESCRIPTOR.match(arguments)
        return [described["path"]] if described else []
    found = []
    for match in _PATH.finditer(arguments):
        path = match["path"]
        found.append(path if path.startswith("/") else str(Path(match["folder"] or cwd) / path))
    return found


def ops(calls: list[Call], *names: str) -> list[Call]:
    """The calls named `names` (fsync matches fdatasync too; rename and link match their *at forms)."""
    wanted = {n for name in names for n in (name, f"{name}at", f"{name}at2")}
    if "fsync" in names:
        wanted.add("fdatasync")
    return [c for c in calls if c.name in wanted]


def fsynced(calls: list[Call], path: str, *, after: int = -1, before: int | None = None) -> bool:
    """Whether an fsync of `path` started after line `after` and ended before line `before`."""
    return any(
        c.paths == [path] and c.start > after and (before is None or c.end < before) for c in ops(calls, "fsync")
    )


def assert_durable_names(calls: list[Call], root: Path, *, skip: tuple[str, ...] = ()) -> None:
    """Every name made or removed under `root` (but under `skip`) has its folder fsynced afterwards; every file given
    a name by rename or link was fsynced before; every folder made has its parent fsynced afterwards."""  # noqa: D205
    inside = [str(root), *(str(root / s) for s in skip)]

    def counted(path: str) -> bool:
        return (path + "/").startswith(inside[0] + "/") and not any(path.startswith(s + "/") for s in inside[1:])

    for call in ops(calls, "rename", "link"):
        source, target = call.paths
        if not counted(target):
            continue
        assert fsynced(calls, source, before=call.start), f"{source} was not fsynced before {call.name} to {target}"
        parent = str(Path(target).parent)
        assert fsynced(calls, parent, after=call.end), f"{parent} was not fsynced after {call.name} to {target}"
    removals = ops(calls, "rmdir", "unlink")
    removed_folders = [c.paths[-1] for c in removals if c.name == "rmdir" or "REMOVEDIR" in c.flags]
    for call in ops(calls, "unlink", "rmdir", "mkdir"):
        path = call.paths[-1]
        if any(path.startswith(folder + "/") for folder in removed_folders):
            continue  # inside a folder removed after it: that folder's name is what has to be durable
        if counted(path) or (call.name.startswith("mkdir") and path == str(root)):
            parent = str(Path(path).parent)
            assert fsynced(calls, parent, after=call.end), f"{parent} was not fsynced after {call.name} {path}"


_STORAGE_WRITES = """
    import sys
    from pathlib import Path
    from registry_core.storage.local import LocalStorage

    storage = LocalStorage(sys.argv[1])
    storage.write("pending/churn/u1.json", b"marker", durable=False)
    storage.write("config/settings.json", b"{}")
    generation = storage.create("models/churn/state.json", b"{}")
    storage.compare_and_swap("models/churn/state.json", b'{"stage": "production"}', generation)
    storage.write("config/settings.json", b'{"a": 1}')
    storage.delete("config/settings.json")
    storage.upload_dir(Path(sys.argv[2]), "artifacts/churn/u2")
    storage.delete_prefix("artifacts/churn/u2")
    storage.delete("pending/churn/u1.json", durable=False)
"""


def _artifacts(folder: Path, size: int = 70_000) -> Path:
    for relative, data in {"saved_model.pb": b"graph", "variables/variables.data": os.urandom(size)}.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


def test_every_acknowledged_write_is_fsynced_in_the_order_posix_needs(tmp_path: Path) -> None:
    root = tmp_path / "new-parent" / ROOT_NAME
    calls = trace(_STORAGE_WRITES, tmp_path, str(root), str(_artifacts(tmp_path / "export")))

    assert_durable_names(calls, root, skip=("pending",))
    # The new registry's own name, in a folder that did not exist either.
    assert fsynced(calls, str(tmp_path)), "the folder holding the new parent of the registry was not fsynced"
    # compare_and_swap and create go through a temporary file of their own, fsynced before it gets the name.
    targets = [c.paths[1] for c in ops(calls, "rename", "link")]
    assert targets.count(str(root / "models/churn/state.json")) == 2
    # Removing an upload removes its folder's name: the parent is fsynced after.
    removal = max(c.end for c in ops(calls, "unlink", "rmdir") if str(root / "artifacts/churn/u2") in c.paths[-1])
    assert removal > 0
    assert fsynced(calls, str(root / "artifacts/churn"), after=removal)


def test_writes_that_need_not_be_durable_are_not_fsynced(tmp_path: Path) -> None:
    root = tmp_path / ROOT_NAME
    calls = trace(_STORAGE_WRITES, tmp_path, str(root), str(_artifacts(tmp_path / "export")))

    marker_temp = next(c.paths[0] for c in ops(calls, "rename") if c.paths[1].endswith("pending/churn/u1.json"))
    assert not fsynced(calls, marker_temp)
    marker_gone = next(c for c in ops(calls, "unlink") if c.paths[-1].endswith("pending/churn/u1.json"))
    assert not fsynced(calls, str(root / "pending/churn"), after=marker_gone.end)


_UPLOAD_THEN_PUBLISH = """
    import sys
    from pathlib import Path
    from registry_core.storage.local import LocalStorage

    storage = LocalStorage(sys.argv[1])
    storage.upload_dir(Path(sys.argv[2]), "artifacts/churn/u1")
    storage.create("models/churn/versions/1.json", b"{}")
"""


def test_uploaded_files_and_folders_are_durable_before_the_write_that_publishes_them(tmp_path: Path) -> None:
    root = tmp_path / ROOT_NAME
    export = _artifacts(tmp_path / "export")
    calls = trace(_UPLOAD_THEN_PUBLISH, tmp_path, str(root), str(export))

    assert_durable_names(calls, root)
    publish = next(c for c in ops(calls, "link") if c.paths[1].endswith("versions/1.json"))
    upload = root / "artifacts/churn/u1"
    for path in [upload / "saved_model.pb", upload / "variables/variables.data", upload, upload / "variables"]:
        assert fsynced(calls, str(path), before=publish.start), f"{path} not durable before the version was published"


def test_publishing_waits_for_the_fsyncs_of_the_upload_however_long_they_take(tmp_path: Path) -> None:
    # The upload's fsyncs run in the background. On ext4 a later fsync also waits for the data of files fsynced
    # before it, which would hide a missing wait; so strace delays the fsyncs of the upload (and only those: -P
    # limits tracing, and with it the delay, to the paths named) and the publication must still come after them.
    root = tmp_path / ROOT_NAME
    export = _artifacts(tmp_path / "export")
    upload = root / "artifacts/churn/u1"
    watched = [upload / "saved_model.pb", upload / "variables/variables.data", upload, upload / "variables"]
    published = root / "models/churn/versions/1.json"
    options = tuple(f"--trace-path={p}" for p in [*watched, published])
    calls = trace(_UPLOAD_THEN_PUBLISH, tmp_path, str(root), str(export),
                  options=(*options, "--inject=fsync:delay_enter=300000"))  # fmt: skip

    (publish,) = (c for c in ops(calls, "link") if c.paths[1] == str(published))
    for path in watched:
        assert fsynced(calls, str(path), before=publish.start), f"{path} not durable before the version was published"


def test_an_upload_that_cannot_be_made_durable_is_never_published(tmp_path: Path) -> None:
    # strace makes the fsync of one uploaded file fail with EIO (a disk error), and only that one.
    root = tmp_path / ROOT_NAME
    failing = root / "artifacts/churn/u1/variables/variables.data"
    script = """
        import sys
        from pathlib import Path
        from registry_core.errors import StorageError
        from registry_core.storage.local import LocalStorage

        storage = LocalStorage(sys.argv[1])
        storage.upload_dir(Path(sys.argv[2]), "artifacts/churn/u1")
        for attempt in range(2):
            try:
                storage.create("models/churn/versions/1.json", b"{}")
            except StorageError as error:
                print("refused:", error)
        print("published:", storage.exists("models/churn/versions/1.json"))
        storage.delete_prefix("artifacts/churn/u1")  # what registration does with an upload it could not commit
        storage.create("models/churn/versions/1.json", b"{}")
        print("after removing the upload:", storage.exists("models/churn/versions/1.json"))
    """
    printed = run_traced(script, tmp_path, str(root), str(_artifacts(tmp_path / "export")),
                         options=(f"--trace-path={failing}", "--inject=fsync:error=EIO"))  # fmt: skip

    assert printed.splitlines() == [
        f"refused: cannot make {root / 'artifacts/churn/u1'} durable: Input/output error",
        f"refused: cannot make {root / 'artifacts/churn/u1'} durable: Input/output error",
        "published: False",
        "after removing the upload: True",
    ]


def test_a_registration_through_the_cli_is_durable_when_the_command_returns(tmp_path: Path) -> None:
    """Whatever the layout: every file the registration leaves outside pending/ was fsynced before anything was
    published after it, and every name it made has its folder fsynced."""  # noqa: D205
    root = tmp_path / ROOT_NAME
    export = _artifacts(tmp_path / "export")
    script = """
        import sys
        from registry_core.cli.app import main
        sys.exit(main(["--json", "--registry", sys.argv[1], "register", "churn", sys.argv[2]]))
    """
    calls = trace(script, tmp_path, str(root), str(export))

    assert_durable_names(calls, root, skip=("pending", ".locks"))
    created = [c for c in ops(calls, "openat") if "O_CREAT" in c.flags and c.paths[-1].startswith(str(root))]
    stored = [c for c in created if os.path.exists(c.paths[-1]) and "/pending/" not in c.paths[-1]]
    assert any("/artifacts/" in c.paths[-1] for c in stored)
    for publication in ops(calls, "rename", "link"):
        if "/pending/" in publication.paths[1]:
            continue
        for file in (c for c in stored if c.end < publication.start and "/.locks/" not in c.paths[-1]):
            assert fsynced(calls, file.paths[-1], after=file.end, before=publication.start), (
                f"{file.paths[-1]} was not durable before {publication.paths[1]} was published"
            )
