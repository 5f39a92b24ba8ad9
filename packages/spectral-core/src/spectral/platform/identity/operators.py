"""Operations staff: the platform's operations account and its members are bootstrapped from
the command line (`spectral-admin create-operator`), never through the API."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.models import Account, AccountMember, User
from spectral.platform.identity.passwords import Passwords
from spectral.platform.identity.scopes import AccountRole, OperationsRole

OPERATIONS_ACCOUNT_NAME = "Spectral Operations"


@dataclass(frozen=True, slots=True)
class OperatorGrant:
    user: User
    created_user: bool


async def grant_operator(
    session: AsyncSession, email: str, role: OperationsRole, *, password: str, passwords: Passwords
) -> OperatorGrant:
    """Make `email` operations staff with `role`, creating the user (with `password`) and the
    operations account as needed. An existing user keeps their password."""
    account = await repository.get_operations_account(session)
    if account is None:
        account = Account(name=OPERATIONS_ACCOUNT_NAME, is_operations=True)
        session.add(account)
        await session.flush()
    email = email.strip().lower()
    user = await repository.get_user_by_email(session, email)
    created = user is None
    if user is None:
        user = User(email=email, password_hash=await passwords.hash(password))
        session.add(user)
        await session.flush()
    account_role = AccountRole.OWNER if role is OperationsRole.OWNER else AccountRole.MEMBER
    member = await repository.account_membership(session, account.id, user.id)
    if member is None:
        session.add(
            AccountMember(
                account_id=account.id, user_id=user.id, role=account_role.value, operations_role=role.value
            )
        )
    else:
        member.operations_role = role.value
    await session.flush()
    return OperatorGrant(user=user, created_user=created)
