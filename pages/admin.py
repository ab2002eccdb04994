"""Admin: accounts, patient assignments, the audit log, store integrity and backups.

Calls :mod:`store.users` (accounts and assignments, each change audited),
:mod:`store.audit`, :mod:`facs_core.services.integrity` and
:func:`facs_core.services.backup.backup`. Administrators manage access; they see no patient content.
"""

from __future__ import annotations

import streamlit as st

from facs_core.services import downloads
from facs_core.services.access import ROLES
from facs_core.services.backup import backup
from facs_core.services.integrity import last_verification, verify_catalog
from facs_core.views import common
from facs_core.views.auth import require
from store import audit, listings, users

store = common.catalog()
user = require(store, "admin")

st.title("Administration")
accounts_tab, assignments_tab, audit_tab, integrity_tab, backup_tab = st.tabs(
    ["Accounts", "Assignments", "Audit log", "Integrity", "Backup"]
)

with accounts_tab:
    accounts = users.list_users(store)
    common.show_table(store, accounts, hide_index=True, width="stretch")
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
                users.add_user(store, username, role, password, actor=user.username)
                st.session_state["ad_notice"] = f"Account {username} added as {role}."
                st.rerun()
    if not accounts.empty:
        with st.form("change_user", border=True):
            st.markdown("**Change an account**")
            a, b, c = st.columns(3)
            target = a.selectbox("Account", accounts["username"].tolist(), key="ad_target")
            action = b.selectbox("Change", ["disable", "enable", "set role", "reset password"], key="ad_action")
            value = c.text_input("New role or password", key="ad_value", type="password")
            if st.form_submit_button("Apply", icon=":material/manage_accounts:"):
                with common.friendly_errors():
                    if action == "disable":
                        users.disable_user(store, target, actor=user.username)
                    elif action == "enable":
                        users.enable_user(store, target, actor=user.username)
                    elif action == "set role":
                        users.set_role(store, target, value.strip(), actor=user.username)
                    else:
                        users.reset_password(store, target, value, actor=user.username)
                    st.session_state["ad_notice"] = f"{target}: {action} done."
                    st.rerun()

notice = st.session_state.pop("ad_notice", None)
if notice:
    st.toast(notice, icon=":material/check_circle:")

with assignments_tab:
    common.show_table(store, users.assignments(store), hide_index=True, width="stretch")
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
                            users.assign_patient(store, clinician, patient, actor=user.username)
                        else:
                            users.unassign_patient(store, clinician, patient, actor=user.username)
                    st.session_state["ad_notice"] = f"{len(chosen)} assignment(s) changed for {clinician}."
                    st.rerun()
    else:
        st.caption("Assignments need at least one active clinician account and one patient.")

with audit_tab:
    limit = st.number_input("Latest events", min_value=10, max_value=100_000, value=500, step=100, key="ad_limit")
    events = audit.events(store, int(limit))
    common.show_table(store, events, hide_index=True, width="stretch")
    st.download_button(
        "Export the audit log (CSV)",
        data=lambda: downloads.export_for(store, user, audit.events(store, 10**9), what="audit log", action="admin"),
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
            verify_catalog(store, actor=user.username)
    last = last_verification(store)
    if last is None:
        st.info("The store has not been verified yet.", icon=":material/info:")
    elif not last["problems"]:
        st.success(
            f"Last verification {last['finished_at']:%Y-%m-%d %H:%M} by {last['actor']}: sound,"
            f" {last['files_checked']} files verified.",
            icon=":material/check_circle:",
        )
    else:
        st.error(
            f"Last verification {last['finished_at']:%Y-%m-%d %H:%M} by {last['actor']}:"
            f" {len(last['problems'])} problems in {last['files_checked']} files checked.",
            icon=":material/error:",
        )
        st.code("\n".join(last["problems"]), language=None)

with backup_tab:
    st.write(f"Writes a verified archive of the catalog, videos and frame shards to `{store.paths.backups}`.")
    if st.button("Back up now", icon=":material/backup:", key="ad_backup"):
        with common.friendly_errors(), st.spinner("Backing up ..."):
            result = backup(store, actor=user.username)
            st.success(
                f"Backup written: {result.archive} ({result.files} files, {result.bytes / 1e6:.1f} MB,"
                f" schema version {result.schema_version}).",
                icon=":material/check_circle:",
            )
