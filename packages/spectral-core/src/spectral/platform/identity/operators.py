"""Operations staff and what only they do, from the command line (`spectral-admin`), never
through the API: the operations account and its members are bootstrapped there, and users are
deactivated there."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from spectral.platform.identity import repository
from spectral.platform.identity.models import Account, AccountMember, User
from spectral.platform.identity.passwords import Passwords
from spectral.platform.identity.scopes import AccountRole, OperationsRole
from spectral.platform.shared.clock import utcnow

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


async def set_user_active(session: AsyncSession, email: str, *, active: bool) -> bool:
    """Deactivate (or reactivate) the user with `email`; False when there is no such user. A
    deactivated user cannot log in, and their tokens are refused within a second by every API
    process: this ORM write is what invalidates the processes' cached grants (`shared.read_cache`
    watches `User.is_active`), which an UPDATE by hand would not."""
    user = await repository.get_user_by_email(session, email.strip().lower())
    if user is None:
        return False
    user.is_active = active
    user.updated_at = utcnow()
    await session.flush()
    return True
