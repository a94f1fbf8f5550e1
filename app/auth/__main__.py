"""`python -m app.auth hash-password`: print a password hash for YBB_UI_USERS.

The password is read from standard input when it is piped (first line), otherwise asked for
twice without echo. It never appears on the command line (shell history, `ps`)."""

from __future__ import annotations

import argparse
import getpass
import sys

from werkzeug.security import generate_password_hash

from .users import MAX_PASSWORD_CHARS

MIN_PASSWORD_CHARS = 8


def read_password() -> str:
    """The password from a pipe, or from two hidden prompts that must agree."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise SystemExit("The two passwords differ; nothing was printed.")
    return first


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m app.auth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    hasher = sub.add_parser("hash-password", help="print a hash for YBB_UI_USERS")
    hasher.add_argument(
        "--method", default="scrypt", help="werkzeug method: scrypt (default) or pbkdf2:sha256"
    )
    args = parser.parse_args(argv)
    password = read_password()
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        print(
            f"The password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.",
            file=sys.stderr,
        )
        return 2
    if not args.method.startswith(("scrypt", "pbkdf2")):
        print("--method must be scrypt or pbkdf2:<hash>", file=sys.stderr)
        return 2
    print(generate_password_hash(password, method=args.method))
    return 0


if __name__ == "__main__":
    sys.exit(main())
