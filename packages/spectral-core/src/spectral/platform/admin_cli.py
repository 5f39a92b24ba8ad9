"""`spectral-admin`: operator tasks that must not go through the API.

spectral-admin migrate
spectral-admin create-operator EMAIL [--role owner|admin|operator|viewer] [--password-stdin]
spectral-admin deactivate-user EMAIL
spectral-admin reactivate-user EMAIL
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Sequence

from pydantic import EmailStr, TypeAdapter, ValidationError

from spectral.platform.identity.operators import grant_operator, set_user_active
from spectral.platform.identity.password_policy import password_problem
from spectral.platform.identity.passwords import Passwords
from spectral.platform.identity.scopes import OperationsRole
from spectral.platform.migrations.runner import require_latest_schema, upgrade
from spectral.platform.shared.db import Database
from spectral.platform.shared.settings import Settings, load_settings
from spectral.platform.shared.startup import refuse_to_start


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spectral-admin", description="Spectral administration")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    operator = commands.add_parser("create-operator", help="make EMAIL operations staff (creating the user)")
    operator.add_argument("email")
    operator.add_argument(
        "--role",
        choices=[r.value for r in OperationsRole],
        default=OperationsRole.OWNER.value,
        help="default: owner",
    )
    operator.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a new user's password from stdin instead of generating a one-time password",
    )
    deactivate = commands.add_parser("deactivate-user", help="refuse EMAIL's login and every token of theirs")
    deactivate.add_argument("email")
    reactivate = commands.add_parser("reactivate-user", help="let a deactivated EMAIL log in again")
    reactivate.add_argument("email")
    return parser


async def _create_operator(settings: Settings, email: str, role: OperationsRole, password: str) -> bool:
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with db.session() as session:
            grant = await grant_operator(
                session, email, role, password=password, passwords=Passwords.from_settings(settings)
            )
        return grant.created_user
    finally:
        await db.dispose()


async def _set_user_active(settings: Settings, email: str, *, active: bool) -> bool:
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with db.session() as session:
            return await set_user_active(session, email, active=active)
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with refuse_to_start("spectral-admin"):
        return _run(args, load_settings())


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        upgrade(settings.resolved_database_url)
        print("database is at the latest revision")
        return 0
    require_latest_schema(settings.resolved_database_url)
    if args.command in ("deactivate-user", "reactivate-user"):
        active = args.command == "reactivate-user"
        if not asyncio.run(_set_user_active(settings, args.email, active=active)):
            print(f"no user {args.email}", file=sys.stderr)
            return 1
        print(f"{args.email} is {'active' if active else 'deactivated'}")
        return 0
    try:
        TypeAdapter(EmailStr).validate_python(args.email)
    except ValidationError as exc:
        # The API refuses such an address at sign-up; an operator could never be invited or mailed.
        print(f"{args.email!r} is not an email address: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        problem = password_problem(password)
        if problem is not None:
            _, message, values = problem
            print(message.format(**values), file=sys.stderr)
            return 2
    else:
        password = secrets.token_urlsafe(18)
    created = asyncio.run(_create_operator(settings, args.email, OperationsRole(args.role), password))
    if not created:
        print(f"{args.email} is now operations staff ({args.role}); their password is unchanged")
    elif args.password_stdin:
        print(f"created operator {args.email} ({args.role})")
    else:
        print(
            f"created operator {args.email} ({args.role}); initial password, shown only now (change it after login): {password}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
