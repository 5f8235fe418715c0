"""Errors outbound raises, split the way the CLI treats them.

    OutboundError                      anything outbound raises on purpose
    ├── UserError                      bad input the user can fix; the CLI prints one line, no traceback
    │   ├── ConfigError                wrangler.jsonc / .toml / .dev.vars is wrong (names file, key, fix)
    │   ├── BuildError                 esbuild could not bundle the entry (runtime/bundle.py)
    │   ├── ToolchainError             esbuild or the runtime's npm packages are missing (runtime/bundle.py)
    │   ├── ModuleLoadError            the bundle threw while its top level ran (runtime/pool.py)
    │   ├── ReloadError                a reload's new version could not start; the old one serves (reload.py)
    │   ├── OutboundHandlerNotFound    a runtime method named a handler the class does not have (policy.py)
    │   ├── SandboxError               unknown sandbox or class, or a class/sandbox mismatch (sandbox.py)
    │   └── ShellError                 a sandbox stub's exec, readFile, writeFile or gitCheckout failed (shell.py)
    │       └── OutsideWorkspace       readFile/writeFile named a path outside the sandbox's working folder
    └── SandboxConnectionError         the sandbox's connection was refused or closed (decide.py: not
                                       intercepted and enableInternet is false); also a ConnectionError

Errors a handler sees inside JS are not here: they are Cloudflare's, raised in the runtime.
"""

from __future__ import annotations


class OutboundError(Exception):
    """Base of every error outbound raises on purpose."""


class UserError(OutboundError):
    """Bad input the user can fix: a configuration, a handler file, a command-line argument."""


class ConfigError(UserError):
    """The Worker configuration (wrangler.jsonc/.json/.toml, .dev.vars, .env) is invalid."""


class SandboxError(UserError):
    """A sandbox or class named by the user does not exist or does not match."""


class SandboxConnectionError(OutboundError, ConnectionError):
    """What the sandbox saw was a refused or closed connection, not an HTTP response."""
