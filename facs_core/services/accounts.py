"""Account and assignment changes, authorised for the acting user at the moment they run.

The rows and their checks (password policy, the last administrator, clinicians
only for assignments) are :mod:`store.users`; this adds who may ask. Every
function takes the acting :class:`~facs_core.services.access.User` and calls
:func:`~facs_core.services.access.authorise` first, so a page or command that
forgets its own check is still refused (and the refusal audited), and an
account disabled or demoted after its page was drawn changes nothing. The
command line passes :class:`~facs_core.services.access.LocalOperator`.
"""

from __future__ import annotations

from facs_core.services import access
from facs_core.services.access import User
from store import Catalog, listings, users

__all__ = [
    "add_user",
    "assign_patient",
    "claim_demo_patients",
    "create_first_admin",
    "disable_user",
    "enable_user",
    "reset_password",
    "set_role",
    "unassign_patient",
]


def _admin(catalog: Catalog, actor: User, target: str) -> str:
    """The acting administrator's audit name, or :class:`~facs_core.services.access.PermissionDenied` (audited)."""
    return access.authorise(catalog, actor, "admin", target=target).username


def add_user(catalog: Catalog, actor: User, username: str, role: str, password: str | None) -> User:
    """Create an account (see :func:`store.users.add_user`); ``actor`` must administer.

    Raises
    ------
    PermissionDenied
        ``actor`` may not administer (audited); nothing changed.
    InputError
        A bad name, role or password, or the account exists.
    """
    return users.add_user(catalog, username, role, password, actor=_admin(catalog, actor, username))


def create_first_admin(catalog: Catalog, username: str, password: str) -> User:
    """The first administrator of an empty store (the first-start form); nobody acts yet.

    Refused once any active administrator exists, checked in the same
    transaction as the insert (:func:`store.users.add_user` with ``first_admin``).
    """
    return users.add_user(catalog, username, "admin", password, actor=username or "anonymous", first_admin=True)


def disable_user(catalog: Catalog, actor: User, username: str) -> None:
    """Disable an account and end its sessions (:func:`store.users.disable_user`); ``actor`` must administer."""
    users.disable_user(catalog, username, actor=_admin(catalog, actor, username))


def enable_user(catalog: Catalog, actor: User, username: str) -> None:
    """Re-enable an account (:func:`store.users.enable_user`); ``actor`` must administer."""
    users.enable_user(catalog, username, actor=_admin(catalog, actor, username))


def reset_password(catalog: Catalog, actor: User, username: str, password: str) -> None:
    """Set a new password and end the account's sessions; ``actor`` must administer."""
    users.reset_password(catalog, username, password, actor=_admin(catalog, actor, username))


def set_role(catalog: Catalog, actor: User, username: str, role: str) -> None:
    """Change an account's role (:func:`store.users.set_role`); ``actor`` must administer."""
    users.set_role(catalog, username, role, actor=_admin(catalog, actor, username))


def assign_patient(catalog: Catalog, actor: User, username: str, patient_id: str) -> None:
    """Let clinician ``username`` see ``patient_id``; ``actor`` must administer."""
    users.assign_patient(catalog, username, patient_id, actor=_admin(catalog, actor, patient_id))


def unassign_patient(catalog: Catalog, actor: User, username: str, patient_id: str) -> None:
    """Withdraw clinician ``username``'s access to ``patient_id``; ``actor`` must administer."""
    users.unassign_patient(catalog, username, patient_id, actor=_admin(catalog, actor, patient_id))


def claim_demo_patients(catalog: Catalog, actor: User) -> list[str]:
    """Assign the synthetic demo patients to clinician ``actor``, as an upload makes its new patient theirs.

    A clinician sees assigned patients only, so demo data loaded from their
    Home page would otherwise stay invisible to them. Needs ``upload``; only
    synthetic patients are ever claimed. Whoever may load the demo (``upload``
    or ``admin``) may call it; only a clinician is assigned anything. Returns
    the codes newly assigned.
    """
    needed = "upload" if access.allowed(actor, "upload") else "admin"
    current = access.authorise(catalog, actor, needed, target="demo data")
    if access.permissions().get((current.role, "upload")) != "assigned":
        return []
    with catalog.transaction():
        claimed = [
            patient
            for patient in listings.patient_codes(catalog, synthetic=True)
            if not access.is_assigned(catalog, current.username, patient)
        ]
        for patient in claimed:
            users.assign_patient(catalog, current.username, patient, actor=current.username)
    return claimed
