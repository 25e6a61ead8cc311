"""vfiocompat.host.sysfs: every path and symlink is resolved inside the root, reads are bounded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vfiocompat.errors import UsageError
from vfiocompat.host.sysfs import MAX_ATTRIBUTE_BYTES, SysfsEscape, SysfsRoot


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def test_sysfs_root_refuses_parent_and_absolute_links(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    (root / "a").mkdir(parents=True)
    (tmp_path / "x").write_text("outside\n")
    os.symlink("../../x", root / "a" / "up")
    os.symlink(str(tmp_path / "x"), root / "a" / "abs")
    os.symlink(str(root / "a"), root / "inside-abs")
    sysfs = SysfsRoot(str(root))
    for relative in ("a/up", "a/abs", "..", "a/../../x"):
        with pytest.raises(SysfsEscape):
            sysfs.read(relative)
    assert sysfs.resolve("inside-abs") == str(root.resolve() / "a"), "an absolute link inside the root is fine"
    with pytest.raises(UsageError):
        SysfsRoot(str(tmp_path / "missing"))


def test_root_must_be_a_directory_and_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is not a directory"):
        SysfsRoot(str(tmp_path / "file"))
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert SysfsRoot(str(tmp_path / "alias")).root == os.path.realpath(tmp_path / "real")


@pytest.mark.parametrize("relative", ["/etc/hostname", "a\0b", "a/\0"])
def test_absolute_and_nul_paths_are_refused(relative: str, tmp_path: Path) -> None:
    with pytest.raises(SysfsEscape, match="not relative to the root") as caught:
        SysfsRoot(str(tmp_path)).resolve(relative)
    assert caught.value.code == "VC603"


def test_absolute_link_climbing_out_after_the_root_prefix_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    root.mkdir()
    (tmp_path / "secret").write_text("s3cret\n")
    real = os.path.realpath(root)
    os.symlink(real + "/../secret", root / "sneaky")
    os.symlink(real + "x/secret", root / "prefix")  # same prefix, another directory
    sysfs = SysfsRoot(str(root))
    for name in ("sneaky", "prefix"):
        with pytest.raises(SysfsEscape):
            sysfs.read(name)


def test_symlink_loops_are_cut(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    os.symlink("b", tmp_path / "sys" / "a")
    os.symlink("a", tmp_path / "sys" / "b")
    with pytest.raises(SysfsEscape, match="too many symlinks"):
        SysfsRoot(str(tmp_path / "sys")).resolve("a/x")


def test_links_are_followed_relative_to_their_own_folder(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    (root / "devices" / "dev0").mkdir(parents=True)
    (root / "devices" / "dev0" / "vendor").write_text("0x8086\n")
    (root / "bus" / "pci" / "devices").mkdir(parents=True)
    os.symlink("../../../devices/dev0", root / "bus" / "pci" / "devices" / "d")
    sysfs = SysfsRoot(str(root))
    assert sysfs.resolve("bus/pci/devices/d/vendor") == str(root.resolve() / "devices" / "dev0" / "vendor")
    # '..' after a link climbs from the link's target, as the kernel does, not from the link's folder.
    assert sysfs.resolve("bus/pci/devices/d/..") == str(root.resolve() / "devices")
    assert sysfs.relative(sysfs.resolve("./bus//pci/devices/d/")) == os.path.join("devices", "dev0")


def test_read_strips_newline_and_returns_none_for_missing_or_folders(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "attr").write_text("value\n\n")
    (tmp_path / "bin").write_bytes(b"\xff\xfeok\n")
    sysfs = SysfsRoot(str(tmp_path))
    assert sysfs.read("attr") == "value"
    assert sysfs.read("bin") == "\ufffd\ufffdok", "undecodable bytes are replaced, never raised"
    assert sysfs.read("dir") is None
    assert sysfs.read("missing") is None


def test_read_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "huge").write_bytes(b"y" * (MAX_ATTRIBUTE_BYTES + 4096))
    text = SysfsRoot(str(tmp_path)).read("huge")
    assert text is not None and len(text) == MAX_ATTRIBUTE_BYTES


def test_list_dir_and_is_dir(tmp_path: Path) -> None:
    (tmp_path / "d" / "b").mkdir(parents=True)
    (tmp_path / "d" / "a").write_text("")
    (tmp_path / "out").mkdir()
    os.symlink("../../out", tmp_path / "d" / "b" / "esc")
    sysfs = SysfsRoot(str(tmp_path / "d"))
    assert sysfs.list_dir(".") == ["a", "b"]
    assert sysfs.list_dir("a") == [] and sysfs.list_dir("nope") == []
    assert sysfs.is_dir("b") and not sysfs.is_dir("a") and not sysfs.is_dir("nope")
    with pytest.raises(SysfsEscape):
        sysfs.list_dir("b/esc")
    with pytest.raises(SysfsEscape):
        sysfs.is_dir("b/esc")


def test_link_name(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    (root / "bus" / "pci" / "drivers" / "vfio-pci").mkdir(parents=True)
    (root / "dev").mkdir()
    os.symlink("../bus/pci/drivers/vfio-pci", root / "dev" / "driver")
    (tmp_path / "evil").mkdir()
    os.symlink("../../evil", root / "dev" / "bad")
    (root / "dev" / "plain").write_text("x")
    sysfs = SysfsRoot(str(root))
    assert sysfs.link_name("dev/driver") == "vfio-pci"
    assert sysfs.link_name("dev/plain") is None, "not a symlink"
    assert sysfs.link_name("dev/missing") is None
    assert sysfs.link_name("dev/") is None and sysfs.link_name("dev/..") is None
    with pytest.raises(SysfsEscape):
        sysfs.link_name("dev/bad")


# -- confinement, for any path --------------------------------------------------------------------

_LINKS = {
    "in_rel": "d1",
    "in_up": "../d2",
    "in_abs": "{root}/d1/d2",
    "root_abs": "{root}",
    "out_rel": "../../outside",
    "out_abs": "{outside}",
    "out_sneak": "{root}/../outside",
    "self_loop": "self_loop",
    "dangling": "nowhere/at/all",
}


def _confinement_tree(base: Path) -> Tuple[SysfsRoot, str]:
    root = base / "sys"
    outside = base / "outside"
    for folder in (root / "d1" / "d2" / "d3", root / "d2", outside / "d2"):
        folder.mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(root)
    for where in (root, root / "d1", root / "d1" / "d2"):
        for name, target in _LINKS.items():
            os.symlink(target.format(root=real, outside=os.path.realpath(outside)), where / name)
    return SysfsRoot(str(root)), real


_PARTS = st.sampled_from(["..", ".", "", "d1", "d2", "d3", "missing", *_LINKS])


@pytest.fixture(scope="module")
def confinement_tree(tmp_path_factory: Any) -> Tuple[SysfsRoot, str]:
    return _confinement_tree(tmp_path_factory.mktemp("confine"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PARTS, min_size=1, max_size=8))
def test_any_relative_path_resolves_inside_the_root_or_is_refused(
        confinement_tree: Tuple[SysfsRoot, str], parts: Any) -> None:
    sysfs, real = confinement_tree
    relative = "/".join(parts)
    if not relative or relative.startswith("/"):
        relative = "./" + relative
    expected = os.path.realpath(os.path.join(real, relative))
    try:
        resolved = sysfs.resolve(relative)
    except SysfsEscape:
        return
    assert _inside(resolved, real), (relative, resolved)
    # What it resolves to is where the kernel would go: the physical path, never a lexical guess.
    assert resolved == expected, relative


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PARTS, min_size=1, max_size=8))
def test_paths_the_os_resolves_outside_are_always_refused(
        confinement_tree: Tuple[SysfsRoot, str], parts: Any) -> None:
    sysfs, real = confinement_tree
    relative = "./" + "/".join(parts)
    expected = os.path.realpath(os.path.join(real, relative))
    if _inside(expected, real):
        return
    with pytest.raises(SysfsEscape):
        sysfs.resolve(relative)


# -- what is checked is what is opened ------------------------------------------------------------


def _swap_tree(base: Path) -> Tuple[Path, Path]:
    root = base / "sys"
    (root / "devices" / "dev0" / "sub").mkdir(parents=True)
    (root / "devices" / "dev0" / "vendor").write_text("inside\n")
    (root / "devices" / "dev0" / "sub" / "x").write_text("inside\n")
    outside = base / "outside" / "dev0"
    (outside / "sub").mkdir(parents=True)
    (outside / "vendor").write_text("outside\n")
    (outside / "sub" / "x").write_text("outside\n")
    (outside / "secret-entry").write_text("")
    return root, outside


def _inodes(folder: Path) -> set:
    found = {os.stat(folder).st_ino}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            found.add(os.lstat(os.path.join(dirpath, name)).st_ino)
    return found


@pytest.mark.parametrize("operation", ["read", "list_dir", "link_name", "is_dir"])
def test_a_folder_swapped_for_an_outside_symlink_mid_walk_is_never_opened(
        operation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = _swap_tree(tmp_path)
    os.symlink("../../outside/dev0/sub", root / "devices" / "dev0" / "link")  # only for link_name
    outside_inodes = _inodes(outside)
    sysfs = SysfsRoot(str(root))
    real_open = os.open
    opened: list = []
    swapped: list = []

    def racing_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: Any = None) -> int:
        # The hook point: the walk is about to enter 'dev0'; the attacker swaps it for a symlink now,
        # after everything before it was checked.
        if path == "dev0" and dir_fd is not None and not swapped:
            os.rename(root / "devices" / "dev0", root / "devices" / "dev0.old")
            os.symlink(str(outside), root / "devices" / "dev0")
            swapped.append(True)
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        opened.append(os.fstat(fd).st_ino)
        return fd

    monkeypatch.setattr(os, "open", racing_open)
    relative = {"read": "devices/dev0/vendor", "list_dir": "devices/dev0", "link_name": "devices/dev0/link",
                "is_dir": "devices/dev0/sub"}[operation]
    with pytest.raises(SysfsEscape, match="has a symlink to"):
        getattr(sysfs, operation)(relative)
    monkeypatch.undo()
    assert swapped, "the swap happened during the walk"
    assert not outside_inodes.intersection(opened), "nothing outside the root was opened"


def test_a_racing_swap_never_yields_what_is_outside(tmp_path: Path) -> None:
    import threading
    import time

    root, outside = _swap_tree(tmp_path)
    sysfs = SysfsRoot(str(root))
    devices = root / "devices"
    stop = threading.Event()
    swaps = [0]

    def attacker() -> None:
        while not stop.is_set():
            os.rename(devices / "dev0", devices / "dev0.real")
            os.symlink(str(outside), devices / "dev0")
            os.unlink(devices / "dev0")
            os.rename(devices / "dev0.real", devices / "dev0")
            swaps[0] += 1

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    seen = set()
    deadline = time.monotonic() + 0.5
    try:
        while time.monotonic() < deadline:
            for operation, relative in (("read", "devices/dev0/vendor"), ("read", "devices/dev0/sub/x"),
                                        ("list_dir", "devices/dev0")):
                try:
                    result = getattr(sysfs, operation)(relative)
                except SysfsEscape:
                    result = "refused"
                seen.add(str(result))
    finally:
        stop.set()
        thread.join(5)
    assert swaps[0] > 10, "the attacker really raced"
    assert "outside" not in seen and not any("secret-entry" in s for s in seen), seen
    assert "inside" in seen, "between swaps the real folder is read"


def test_a_fifo_or_device_node_is_not_read_and_does_not_block(tmp_path: Path) -> None:
    import threading

    os.mkfifo(tmp_path / "fifo")
    nodes = ["fifo"]
    try:
        os.mknod(tmp_path / "null", 0o600 | __import__("stat").S_IFCHR, os.makedev(1, 3))
        nodes.append("null")
    except (PermissionError, OSError):
        pass  # not allowed to make device nodes here; the FIFO still is checked
    sysfs = SysfsRoot(str(tmp_path))
    results: dict = {}

    def read_all() -> None:
        for name in nodes:
            results[name] = sysfs.read(name)

    worker = threading.Thread(target=read_all, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert results == {name: None for name in nodes}


def test_held_folder_reads_and_climbs_back_through_the_root(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    (root / "devices" / "pf").mkdir(parents=True)
    (root / "devices" / "vf").mkdir()
    (root / "devices" / "pf" / "vendor").write_text("0x15b3\n")
    (root / "devices" / "vf" / "vendor").write_text("0x15b3\n")
    os.symlink("../pf", root / "devices" / "vf" / "physfn")
    os.symlink("../../../outside", root / "devices" / "vf" / "bad")
    with SysfsRoot(str(root)) as sysfs:
        folder = sysfs.open_dir("devices/vf")
        assert folder is not None and folder.path == "devices/vf"
        with folder:
            assert folder.read("vendor") == "0x15b3"
            assert folder.read("physfn/vendor") == "0x15b3"
            assert folder.read("../pf/vendor") == "0x15b3", "'..' above the held folder walks down from the root"
            assert folder.link_name("physfn") == "pf"
            assert folder.list_dir() == ["bad", "physfn", "vendor"]
            assert folder.is_dir("physfn") and not folder.is_dir("vendor")
            assert sysfs.resolve("physfn", folder) == str(root.resolve() / "devices" / "pf")
            with pytest.raises(SysfsEscape, match="'devices/vf/bad'"):
                folder.read("bad")
            with pytest.raises(SysfsEscape, match="climbs above the root"):
                folder.read("../../../x")
        assert sysfs.open_dir("devices/missing") is None
        assert sysfs.open_dir("devices/vf/vendor") is None
    with pytest.raises(UsageError, match="closed"):
        sysfs.read("devices/vf/vendor")


def test_a_root_is_shared_not_duplicated_by_copies(tmp_path: Path) -> None:
    import copy
    import pickle

    (tmp_path / "attr").write_text("v\n")
    sysfs = SysfsRoot(str(tmp_path))
    assert copy.copy(sysfs) is sysfs and copy.deepcopy(sysfs) is sysfs
    again = pickle.loads(pickle.dumps(sysfs))
    assert again is not sysfs and again.root == sysfs.root and again.read("attr") == "v"
    again.close()
    assert sysfs.read("attr") == "v", "closing the unpickled copy leaves the original open"


def test_physical_and_link_target_are_relative_to_the_root(tmp_path: Path) -> None:
    root = tmp_path / "sys"
    (root / "bus" / "pci" / "drivers" / "qat_vfio_pci").mkdir(parents=True)
    (root / "module" / "qat_vfio_pci").mkdir(parents=True)
    dev = root / "devices" / "pci0000:6b" / "0000:6b:00.1"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text("0x8086\n")
    os.symlink("../../../bus/pci/drivers/qat_vfio_pci", dev / "driver")
    os.symlink("../../../../module/qat_vfio_pci", root / "bus" / "pci" / "drivers" / "qat_vfio_pci" / "module")
    sysfs = SysfsRoot(str(root))
    assert sysfs.physical(".") == "." and sysfs.resolve(".") == str(root.resolve())
    assert sysfs.physical("devices/pci0000:6b/0000:6b:00.1/driver") == "bus/pci/drivers/qat_vfio_pci"
    with sysfs.open_dir("devices/pci0000:6b/0000:6b:00.1") as folder:  # type: ignore[union-attr]
        # Three '..' above the held folder at once, then down again from the root.
        assert sysfs.link_target("driver", folder) == "bus/pci/drivers/qat_vfio_pci"
        assert folder.link_name("driver/module") == "qat_vfio_pci"
        assert sysfs.link_target("vendor", folder) is None, "a file is no symlink"
        assert folder.read("vendor/") is None and folder.read("vendor/.") is None, "a trailing '/' asks for a folder"
        assert folder.read("./vendor") == "0x8086" and folder.read("driver/../../../../devices/pci0000:6b/"
                                                                    "0000:6b:00.1//vendor") == "0x8086"
