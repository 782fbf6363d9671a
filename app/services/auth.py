"""Who is asking, and may they: the signed-in user every service function is given, and the role check
each of them makes itself (server-side, whatever the page showed or hid).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CODER = "coder"  # reviews, decides, exports own work
    ADMIN = "admin"  # also: users, imports, retraining, promotion, audit log


class PermissionDeniedError(PermissionError):
    """The signed-in user's role does not allow this action."""


@dataclass(frozen=True)
class CurrentUser:
    username: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def require_role(user: CurrentUser | None, *allowed: Role) -> CurrentUser:
    """`user` when signed in with one of `allowed` roles (admins may do anything); raises otherwise."""
    if user is None:
        raise PermissionDeniedError("Sign in first.")
    if user.role == Role.ADMIN or user.role in allowed:
        return user
    wanted = " or ".join(role.value for role in allowed)
    raise PermissionDeniedError(f"{user.username} is a {user.role.value}; this needs the {wanted} role.")
