"""Who may read what in the state folder (``<project>/.outbound`` or ``--persist-to``).

In namespace capture every sandbox runs as its own unprivileged uid, and its working folder is
``<state>/sandboxes/<id>/work``: every folder on the way must let other users through (o+x). What the emulator
keeps beside it is its own: Secrets Store values, KV and R2 data, every sandbox's policy (with its handlers'
params), the audit log, mitmproxy's CA key, the control API's token. With the default umask those are created
readable by anyone who can reach them, and a sandbox reaches them by name. So:

    <state>/sandboxes/            0711  traversable, not listable: no sandbox learns the others' ids
    <state>/sandboxes/<id>/       0711  ca.crt, bundle.crt, resolv.conf, nothing: public, mounted into the sandbox
    <state>/sandboxes/<id>/work/  0700, owned by the sandbox's uid: no other sandbox reads it
    <state>/<what the emulator keeps>  0700 (folders) or 0600 (files): what is inside is out of reach

Only the entries named here are touched, never the state folder itself or anything else in it: ``--persist-to``
may name a folder that holds other things (``/tmp``, the project), whose modes are not the emulator's to change.
``lock`` is called whenever an entry may have appeared: once the emulator has opened its stores (a reload can
add a store folder) and once the server has written its own files. Modes only: the owner (the user who runs
``outbound dev``) keeps every right.
"""

from __future__ import annotations

import stat
from pathlib import Path

from emulator.audit import AUDIT_FILENAME
from emulator.client import DEV_FILE
from emulator.state import STATE_FILENAME

SANDBOXES = "sandboxes"  # the one entry sandboxes must get through
TRAVERSABLE = 0o711
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
MITMPROXY_FOLDER = "mitmproxy"  # mitmproxy's confdir: its own CA, key included (server.py)
UPSTREAM_TRUST = "upstream-trust.pem"  # what mitmproxy trusts upstream (server.py)
# The binding stores' folders (bindings/__init__.py, open_bindings): <state>/<kind>/<namespace, bucket or store>.
STORE_FOLDERS = ("kv", "r2", "secrets-store")
PRIVATE = (DEV_FILE, AUDIT_FILENAME, MITMPROXY_FOLDER, UPSTREAM_TRUST, *STORE_FOLDERS)


def lock(state: Path) -> None:
    """Make what the emulator keeps in ``state`` private to its owner, and ``sandboxes/`` traversable only."""
    if not state.is_dir():
        return
    for entry in state.iterdir():
        if entry.name == SANDBOXES:
            entry.chmod(TRAVERSABLE)
        elif entry.name in PRIVATE or entry.name.startswith(STATE_FILENAME):  # with SQLite's -wal, -shm, -journal
            _make_private(entry)


def _make_private(entry: Path) -> None:
    try:
        mode = entry.lstat().st_mode
    except FileNotFoundError:  # a SQLite journal that came and went
        return
    if stat.S_ISLNK(mode):
        return  # chmod would follow it out of the state folder
    try:
        entry.chmod(PRIVATE_FOLDER if stat.S_ISDIR(mode) else PRIVATE_FILE)
    except FileNotFoundError:
        return
