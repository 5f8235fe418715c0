"""Who may read what in the state folder (``<project>/.outbound`` or ``--persist-to``).

In namespace capture every sandbox runs as its own unprivileged uid, and its working folder is
``<state>/sandboxes/<id>/work``: every folder on the way must let other users through (o+x). Everything else in
the state folder is the emulator's alone: Secrets Store values, KV and R2 data, every sandbox's policy, the
audit log, mitmproxy's own CA key, the control API's token. With the default umask those are created readable
by anyone who can reach them, and a sandbox can reach them by name even where it cannot list the folder. So:

    <state>/                   0711  traversable, not listable
    <state>/sandboxes/         0711
    <state>/sandboxes/<id>/    0711  ca.crt, bundle.crt, resolv.conf, nothing: public, bind-mounted into the sandbox
    <state>/sandboxes/<id>/work/  0700, owned by the sandbox's uid: no other sandbox reads it
    <state>/<anything else>    0700 (folders) or 0600 (files): what is inside a private folder is out of reach

``lock`` is called whenever something may have been added at the top level: once the emulator has opened its
stores (a reload can add a store folder) and once the server has written its own files. Modes only: the
owner (the user who runs ``outbound dev``) keeps every right.
"""

from __future__ import annotations

import stat
from pathlib import Path

SANDBOXES = "sandboxes"  # the one entry sandboxes must get through
TRAVERSABLE = 0o711
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def lock(state: Path) -> None:
    """Make ``state`` traversable only, and every entry in it except ``sandboxes/`` private to its owner."""
    if not state.is_dir():
        return
    state.chmod(TRAVERSABLE)
    for entry in state.iterdir():
        if entry.name == SANDBOXES:
            entry.chmod(TRAVERSABLE)
            continue
        _make_private(entry)


def _make_private(entry: Path) -> None:
    try:
        mode = entry.lstat().st_mode
    except FileNotFoundError:  # a temporary file that came and went (a SQLite journal)
        return
    if stat.S_ISLNK(mode):
        return  # chmod would follow it out of the state folder; a link's own mode means nothing
    try:
        entry.chmod(PRIVATE_FOLDER if stat.S_ISDIR(mode) else PRIVATE_FILE)
    except FileNotFoundError:
        return
