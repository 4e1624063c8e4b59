"""Runs the original Python broker (claude-ipc-mcp 2.0.0, src/claude_ipc_server.py) for the legacy
bench: `python3 bench/original_broker.py PATH PORT`. The file is the user's copy of the original
(not part of agent-ipc). Its module starts a MessageBroker on import, on the port it hard-codes:
the source is read and its IPC_PORT set to PORT before it runs. The `mcp` package it imports for
its MCP front end is not needed by the broker and is stubbed. Its per-instance rate limit (100
requests a minute) is switched off, so that what is measured is its speed. Its SQLite file goes to
~/.claude-ipc-data: run it with a temporary HOME."""

import logging
import re
import sys
import time
import types


def stub_mcp() -> None:
    class Server:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            return lambda *a, **k: (lambda f: f)

    class Anything:
        def __init__(self, *args, **kwargs):
            pass

    mcp = types.ModuleType("mcp")
    server = types.ModuleType("mcp.server")
    server.Server = Server
    mtypes = types.ModuleType("mcp.types")
    for name in ("Resource", "Tool", "TextContent", "LoggingLevel"):
        setattr(mtypes, name, Anything)
    sys.modules.update({"mcp": mcp, "mcp.server": server, "mcp.types": mtypes})


def main() -> None:
    path, port = sys.argv[1], int(sys.argv[2])
    source = open(path, encoding="utf-8").read()
    source, n = re.subn(r"^IPC_PORT = \d+", f"IPC_PORT = {port}", source, count=1, flags=re.M)
    if n != 1:
        sys.exit(f"{path}: no IPC_PORT line (not the original's claude_ipc_server.py?)")
    stub_mcp()
    logging.disable(logging.INFO)
    module = types.ModuleType("claude_ipc_server")
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)  # starts the broker on PORT
    module.RateLimiter.is_allowed = lambda self, key: True
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
