"""Admin: accounts, patient assignments, the audit log, store integrity and backups.

Calls :mod:`facs_core.services.accounts` (accounts and assignments, authorised and audited),
:mod:`store.audit`, :mod:`facs_core.services.integrity` and
:func:`facs_core.services.backup.backup`. Administrators manage access; they see no patient content.
"""

from __future__ import annotations

import streamlit as st

from facs_core.errors import InputError
from facs_core.services import accounts, downloads
from facs_core.services.access import ROLES
from facs_core.services.backup import backup
from facs_core.services.integrity import last_verification, verify_catalog
from facs_core.wording import article
from store import audit, listings, users
from web import common, formatting
from web.auth import require
from web.deferred import session_token

store = common.catalog()
user = require(store, "admin")

st.title("Administration")
accounts_tab, assignments_tab, audit_tab, integrity_tab, backup_tab = st.tabs(
    ["Accounts", "Assignments", "Audit log", "Integrity", "Backup"]
)

#: The changes an administrator can make to an account, as the picker words them.
CHANGES = {
    "set role": "Change the role",
    "reset password": "Set a new password",
    "disable": "Disable the account",
    "enable": "Enable the account",
}

# After a change is applied its fields empty, so the next one starts from a blank form (set before the widgets exist).
# Assigned, not deleted: a deleted key leaves the browser showing (and sending back) the old value.
for key in st.session_state.pop("ad_clear", []):
    if key in ("ad_username", "ad_password", "ad_new_password"):
        st.session_state[key] = ""
    else:
        st.session_state[key] = [] if key == "ad_patients" else None

with accounts_tab:
    account_rows = users.list_users(store)
    common.show_table(store, account_rows, human=True, hide_index=True, width="stretch")
    with st.form("add_user", border=True):
        st.markdown("**Add an account**")
        a, b, c = st.columns(3)
        username = a.text_input("User name", key="ad_username")
        role = b.selectbox("Role", list(ROLES), key="ad_role")
        password = c.text_input(
            "Initial password",
            type="password",
            key="ad_password",
            help=f"At least {users.MIN_PASSWORD_LENGTH} characters",
        )
        if st.form_submit_button("Add account", icon=":material/person_add:"):
            with common.friendly_errors():
                if not username.strip():
                    raise InputError("enter a user name")
                if not password:
                    raise InputError("enter an initial password")
                accounts.add_user(store, user, username, role, password)
                st.session_state["ad_notice"] = f"Account {username} added as {role}."
                st.session_state["ad_clear"] = ["ad_username", "ad_password"]
                st.rerun()
    if not account_rows.empty:
        with st.container(border=True):
            st.markdown("**Change an account**")
            a, b = st.columns(2)
            target = a.selectbox(
                "Account",
                account_rows["username"].tolist(),
                index=None,
                placeholder="Choose an account",
                key="ad_target",
            )
            # Only the changes that apply: an active account can be disabled, a disabled one enabled.
            row = account_rows.set_index("username").loc[target] if target else None
            active = bool(row.get("active", True)) if row is not None else None
            skip = {True: "enable", False: "disable"}.get(active)
            offered = [change for change in CHANGES if change != skip]
            if st.session_state.get("ad_action") not in offered:
                st.session_state["ad_action"] = None
            action = b.selectbox(
                "Change",
                offered,
                index=None,
                format_func=CHANGES.get,
                placeholder="Choose a change",
                key="ad_action",
            )
            new_role = new_password = None
            if action == "set role":
                new_role = st.selectbox(
                    "New role", list(ROLES), index=None, placeholder="Choose a role", key="ad_new_role"
                )
            elif action == "reset password":
                new_password = st.text_input(
                    "New password",
                    type="password",
                    key="ad_new_password",
                    help=f"At least {users.MIN_PASSWORD_LENGTH} characters",
                )
            if row is not None:
                st.caption(f"{target} is {article(row['role'])} account, {'active' if active else 'disabled'}.")
            ready = bool(target and action and (action != "set role" or new_role))
            if st.button("Apply", icon=":material/manage_accounts:", key="ad_apply", disabled=not ready):
                with common.friendly_errors():
                    if action == "disable":
                        accounts.disable_user(store, user, target)
                    elif action == "enable":
                        accounts.enable_user(store, user, target)
                    elif action == "set role":
                        accounts.set_role(store, user, target, new_role)
                    elif not new_password:
                        raise InputError("enter a new password")
                    else:
                        accounts.reset_password(store, user, target, new_password)
                    st.session_state["ad_notice"] = f"{target}: {CHANGES[action].lower()} done."
                    st.session_state["ad_clear"] = ["ad_target", "ad_action", "ad_new_role", "ad_new_password"]
                    st.rerun()

notice = st.session_state.pop("ad_notice", None)
if notice:
    st.toast(notice, icon=":material/check_circle:")

with assignments_tab:
    common.show_table(store, users.assignments(store), human=True, hide_index=True, width="stretch")
    clinicians = users.list_users(store).query("role == 'clinician' and active")["username"].tolist()
    patients = listings.patient_codes(store)
    if clinicians and patients:
        with st.form("assign", border=True):
            a, b = st.columns(2)
            clinician = a.selectbox("Clinician", clinicians, key="ad_clinician")
            chosen = b.multiselect("Patients", patients, key="ad_patients")
            assign, unassign = st.columns(2)
            do_assign = assign.form_submit_button("Assign", icon=":material/link:")
            do_unassign = unassign.form_submit_button("Remove assignment", icon=":material/link_off:")
            if do_assign or do_unassign:
                with common.friendly_errors():
                    for patient in chosen:
                        if do_assign:
                            accounts.assign_patient(store, user, clinician, patient)
                        else:
                            accounts.unassign_patient(store, user, clinician, patient)
                    changed = formatting.count(len(chosen), "assignment")
                    st.session_state["ad_notice"] = f"{changed} changed for {clinician}."
                    # The picker empties after success, as the Add-account form does: a second click changes nothing.
                    st.session_state["ad_clear"] = ["ad_patients"]
                    st.rerun()
    else:
        st.caption("Assignments need at least one active clinician account and one patient.")

with audit_tab:
    limit = st.number_input("Latest events", min_value=10, max_value=100_000, value=500, step=100, key="ad_limit")
    events = audit.events(store, int(limit))
    common.show_table(store, events, human=True, hide_index=True, width="stretch")
    token = session_token()
    st.download_button(
        "Export the audit log (CSV)",
        data=lambda: downloads.export_for(
            store, user, audit.events(store, 10**9), what="audit log", action="admin", session_token=token
        ),
        file_name="audit-log.csv",
        mime="text/csv",
        key="ad_audit_csv",
        icon=":material/download:",
        on_click="ignore",
    )

with integrity_tab:
    st.write("Checks the catalog and every video, playback copy and frame shard against its recorded sha256.")
    if st.button("Verify the store now", icon=":material/verified:", key="ad_verify"):
        with common.friendly_errors(), st.spinner("Verifying ..."):
            verify_catalog(store, user)
    last = last_verification(store, user)
    if last is None:
        st.info("The store has not been verified yet.", icon=":material/info:")
    elif not last["problems"]:
        st.success(
            f"Last verification {last['finished_at']:%Y-%m-%d %H:%M} by {last['actor']}: sound,"
            f" {formatting.count(last['files_checked'], 'file')} verified.",
            icon=":material/check_circle:",
        )
    else:
        st.error(
            f"Last verification {last['finished_at']:%Y-%m-%d %H:%M} by {last['actor']}:"
            f" {formatting.count(len(last['problems']), 'problem')} in"
            f" {formatting.count(last['files_checked'], 'file')} checked.",
            icon=":material/error:",
        )
        st.code("\n".join(last["problems"]), language=None)

with backup_tab:
    st.write(f"Writes a verified archive of the catalog, videos and frame shards to `{store.paths.backups}`.")
    if st.button("Back up now", icon=":material/backup:", key="ad_backup"):
        with common.friendly_errors(), st.spinner("Backing up ..."):
            result = backup(store, user=user)
            st.success(
                f"Backup written: {result.archive} ({formatting.count(result.files, 'file')},"
                f" {result.bytes / 1e6:.1f} MB,"
                f" schema version {result.schema_version}).",
                icon=":material/check_circle:",
            )
