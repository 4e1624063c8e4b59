#!/usr/bin/env python3
"""A client that talks to the broker exactly as the original claude-ipc-mcp scripts do:
one JSON object in one send (no length, no newline, no half-close), one recv(65536).
Used by legacy_test.ts to prove agent-ipc serves the original's clients unchanged.

Usage: legacy_client.py PORT SECRET SESSION_FILE ACTION [ARGS...]
       legacy_client.py PORT SECRET - raw JSON   (one request as given, no session)
"""
import hashlib
import json
import os
import socket
import sys


def request(port, payload):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5.0)
    sock.connect(("127.0.0.1", port))
    try:
        sock.send(json.dumps(payload).encode("utf-8"))
        return json.loads(sock.recv(65536).decode("utf-8"))
    finally:
        sock.close()


def main():
    port, secret, session_file, action = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    args = sys.argv[5:]
    if action == "raw":
        print(json.dumps(request(port, json.loads(args[0]))))
        return
    if action == "register":
        name = args[0]
        token = hashlib.sha256(f"{name}:{secret}".encode()).hexdigest()
        r = request(port, {"action": "register", "instance_id": name, "auth_token": token})
        if r.get("status") == "ok":
            with open(session_file, "w") as f:
                json.dump({"instance_id": name, "session_token": r["session_token"]}, f)
            os.chmod(session_file, 0o600)
        print(json.dumps(r))
        return
    with open(session_file) as f:
        s = json.load(f)
    base = {"session_token": s["session_token"]}
    if action == "send":
        r = request(port, {**base, "action": "send", "from_id": s["instance_id"], "to_id": args[0],
                           "message": {"content": " ".join(args[1:])}})
    elif action == "check":
        r = request(port, {**base, "action": "check", "instance_id": s["instance_id"]})
    elif action == "list":
        r = request(port, {**base, "action": "list"})
    elif action == "broadcast":
        r = request(port, {**base, "action": "broadcast", "from_id": s["instance_id"],
                           "message": {"content": " ".join(args)}})
    elif action == "rename":
        r = request(port, {**base, "action": "rename", "old_id": s["instance_id"], "new_id": args[0]})
    else:
        raise SystemExit("unknown action")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
