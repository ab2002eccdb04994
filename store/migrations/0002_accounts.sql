-- Schema version 2: local accounts, roles and patient assignments for sign-in,
-- and a version counter on segments so two editors never silently overwrite
-- each other (optimistic concurrency).

CREATE TABLE users (
    username       VARCHAR PRIMARY KEY,
    password_hash  VARCHAR,                  -- argon2id; NULL for single-sign-on accounts
    role           VARCHAR NOT NULL,         -- clinician | researcher | admin
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    last_login_at  TIMESTAMP,
    CHECK (role IN ('clinician', 'researcher', 'admin'))
);

-- Which patients a clinician may see.
CREATE TABLE assignments (
    username    VARCHAR NOT NULL,
    patient_id  VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (username, patient_id)
);

ALTER TABLE segments ADD COLUMN revision INTEGER DEFAULT 1;
