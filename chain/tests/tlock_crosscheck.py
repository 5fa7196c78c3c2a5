#!/usr/bin/env python3
"""Cross-check helper for chain's timelock encryption against the reference client,
PyPI `bittensor-drand` 2.0.0 (installed by scripts/install-python-deps into target/pyenv).

Run by chain/tests/tlock_crosscheck.rs; reads one JSON request on stdin, writes one JSON
answer on stdout. Works offline: nothing here contacts drand.

Request:
  {"decrypt": [{"ciphertext": hex, "round": n, "signature": hex}, ...],
   "encrypt": [{"plaintext": hex, "round": n}, ...],
   "commit_v2": [{"uids": [...], "values": [...], "version_key": n, "hotkey": hex,
                  "last_epoch_block": n, "pending_epoch_at": n, "subnet_epoch_index": n,
                  "tempo": n, "blocks_since_last_step": n, "current_block": n,
                  "reveal_period_epochs": n, "block_time": seconds}, ...]}
Answer:
  {"version": "2.0.0",
   "decrypt": [{"plaintext": hex} | {"error": text}, ...],
   "encrypt": [{"ciphertext": hex}, ...],          # raw TLE bytes (UserData unwrapped)
   "commit_v2": [{"ciphertext": hex, "round": n, "before_ms": n, "after_ms": n}, ...]}

`python3 tlock_crosscheck.py --version` prints the installed package version.
"""

import importlib.metadata
import json
import sys
import time


def compact(n: int) -> bytes:
    """SCALE compact encoding (as parity-scale-codec writes it)."""
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    raw = n.to_bytes((n.bit_length() + 7) // 8, "little")
    return bytes([((len(raw) - 4) << 2) | 3]) + raw


def read_compact(b: bytes) -> tuple[int, int]:
    """Decodes a SCALE compact integer; returns (value, bytes used)."""
    mode = b[0] & 3
    if mode == 0:
        return b[0] >> 2, 1
    if mode == 1:
        return int.from_bytes(b[:2], "little") >> 2, 2
    if mode == 2:
        return int.from_bytes(b[:4], "little") >> 2, 4
    width = (b[0] >> 2) + 4
    return int.from_bytes(b[1 : 1 + width], "little"), 1 + width


def user_data(ciphertext: bytes, reveal_round: int) -> bytes:
    """SCALE `UserData { encrypted_data: Vec<u8>, reveal_round: u64 }`."""
    return compact(len(ciphertext)) + ciphertext + reveal_round.to_bytes(8, "little")


def unwrap_user_data(blob: bytes, reveal_round: int) -> bytes:
    """The `encrypted_data` of a SCALE `UserData`, checking the round and length."""
    n, used = read_compact(blob)
    data = blob[used : used + n]
    rest = blob[used + n :]
    if len(data) != n or rest != reveal_round.to_bytes(8, "little"):
        raise ValueError("encrypt_at_round did not return UserData for the requested round")
    return data


def main() -> int:
    import bittensor_drand as bd

    version = importlib.metadata.version("bittensor-drand")
    if sys.argv[1:] == ["--version"]:
        print(version)
        return 0
    req = json.load(sys.stdin)
    out = {"version": version, "decrypt": [], "encrypt": [], "commit_v2": []}
    for item in req.get("decrypt", []):
        blob = user_data(bytes.fromhex(item["ciphertext"]), int(item["round"]))
        try:
            plain = bd.decrypt_with_signature(blob, item["signature"])
            out["decrypt"].append({"plaintext": bytes(plain).hex()})
        except Exception as e:  # the package raises ValueError on a failed decryption
            out["decrypt"].append({"error": f"{type(e).__name__}: {e}"})
    for item in req.get("encrypt", []):
        rnd = int(item["round"])
        blob, got = bd.encrypt_at_round(bytes.fromhex(item["plaintext"]), rnd)
        if got != rnd:
            raise ValueError(f"encrypt_at_round returned round {got}, asked {rnd}")
        out["encrypt"].append({"ciphertext": unwrap_user_data(bytes(blob), rnd).hex()})
    for c in req.get("commit_v2", []):
        before = time.time_ns() // 1_000_000
        ct, rnd = bd.get_encrypted_commit_v2(
            c["uids"],
            c["values"],
            c["version_key"],
            c["last_epoch_block"],
            c["pending_epoch_at"],
            c["subnet_epoch_index"],
            c["tempo"],
            c["blocks_since_last_step"],
            c["current_block"],
            c["reveal_period_epochs"],
            c["block_time"],
            bytes.fromhex(c["hotkey"]),
        )
        after = time.time_ns() // 1_000_000
        out["commit_v2"].append(
            {"ciphertext": bytes(ct).hex(), "round": rnd, "before_ms": before, "after_ms": after}
        )
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
