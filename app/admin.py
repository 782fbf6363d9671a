"""Administration from the server's command line, on the database named by `PLANT_CODER_DB_URL`:

    python -m app.admin create-user --username U [--password P] --role admin|coder
    python -m app.admin set-password --username U [--password P]
    python -m app.admin ensure-admin          # `make run`: the first admin, with a random password, once
    python -m app.admin backup --out FILE     # a consistent copy of the live SQLite database
    python -m app.admin import --path FILE [--format auto|jsonl|csv|caml|xcube|edin]

Whoever runs these holds the database itself, so they act as an admin; the audit log names them
`cli:<their login>`. A problem the user can fix prints one line and exits with status 2. Passwords are
never printed, except the generated one of `ensure-admin`, once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from app.config import load_config
from app.services import accounts, audit, imports
from app.services.accounts import AccountError
from app.services.audit import AuditAction
from app.services.auth import CurrentUser, Role
from app.services.backup import BackupError, backup_sqlite
from app.services.db import DatabaseConfigError, DatabaseUnavailableError, make_engine, migrate, open_session


def _operator() -> CurrentUser:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return CurrentUser(f"cli:{login}", Role.ADMIN)


_PASSWORD_HELP = "the password; left out, it is asked for without echo (and stays out of the shell's history)"


def _password(args: argparse.Namespace) -> str:
    return args.password if args.password is not None else getpass.getpass(f"Password for {args.username}: ")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create an account")
    create.add_argument("--username", required=True)
    create.add_argument("--password", help=_PASSWORD_HELP)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    password = commands.add_parser("set-password", help="set an account's password (lifts a lock-out)")
    password.add_argument("--username", required=True)
    password.add_argument("--password", help=_PASSWORD_HELP)
    commands.add_parser("ensure-admin", help="create the first admin if there is no account yet")
    backup = commands.add_parser("backup", help="copy the live SQLite database consistently")
    backup.add_argument("--out", required=True, type=Path, help="the new backup file")
    load = commands.add_parser("import", help="import a corpus file or folder into the worklist")
    load.add_argument("--path", required=True, type=Path)
    load.add_argument("--format", default="auto")
    return parser


def run(argv: list[str] | None = None) -> str:
    """Runs one command and returns what to print; raises the services' errors."""
    args = _parser().parse_args(argv)
    db_url = load_config().db_url
    engine = make_engine(db_url)
    try:
        migrate(engine)
        with open_session(engine) as session:
            operator = _operator()
            if args.command == "create-user":
                accounts.create_user(session, operator, args.username, _password(args), args.role)
                return f"Created {args.username} ({args.role})."
            if args.command == "set-password":
                accounts.set_password(session, operator, args.username, _password(args))
                return f"New password set for {args.username}."
            if args.command == "ensure-admin":
                password = accounts.ensure_first_admin(session)
                if password is None:
                    return ""
                return (
                    "\n  No account existed, so one admin account was created; this is the only time its "
                    f"password is shown:\n\n    username: {accounts.FIRST_ADMIN_USERNAME}\n    password: {password}\n\n"
                    "  Sign in with it, then create the coders' accounts on the Users page.\n"
                )
            if args.command == "backup":
                result = backup_sqlite(db_url, args.out)
                audit.record_now(session, operator, AuditAction.BACKED_UP, f"file {result.path}",
                                 {"bytes": result.bytes})  # fmt: skip
                rows = ", ".join(f"{table} {count}" for table, count in result.tables.items())
                return f"Backed up to {result.path} ({result.bytes:,} bytes; rows: {rows})."
            report = imports.import_path(session, operator, args.path, args.format)
            return imports.describe(report, str(args.path))
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    try:
        output = run(argv)
    except (AccountError, BackupError, imports.ImportFailedError, DatabaseConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (DatabaseUnavailableError, OperationalError) as e:
        print(f"error: the database cannot be used now: {getattr(e, 'orig', None) or e}", file=sys.stderr)
        return 2
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
