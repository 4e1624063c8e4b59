"""Runs a command in a pseudo-terminal for the e2e tests (python3 standard library only).

Usage: python3 _pty.py COLS ROWS COMMAND [ARGS...]

Bytes on our stdin go to the terminal; everything the program writes to the
terminal comes out on our stdout. When our stdin closes, or the program
exits, the program's process group gets SIGHUP then SIGKILL and we exit with
its status. The terminal answers the cursor-position query (ESC [6n) that
some TUIs send at start, so they do not wait for a real terminal.
"""

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def main() -> int:
    cols, rows, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    stdin = sys.stdin.fileno()
    stdout = sys.stdout.fileno()
    status = None
    stdin_open = True
    try:
        while status is None:
            fds = [fd] + ([stdin] if stdin_open else [])
            ready, _, _ = select.select(fds, [], [], 0.2)
            if fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                if b"\x1b[6n" in data:
                    os.write(fd, b"\x1b[1;1R")
                os.write(stdout, data)
            if stdin_open and stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    stdin_open = False
                    break
                os.write(fd, data)
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
    finally:
        if status is None:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except OSError:
                    pass
                deadline = time.time() + 2
                while time.time() < deadline:
                    done, st = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = st
                        break
                    time.sleep(0.05)
                if status is not None:
                    break
    if status is None:
        return 1
    return os.waitstatus_to_exitcode(status) & 0xFF


if __name__ == "__main__":
    sys.exit(main())
