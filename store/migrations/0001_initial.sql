-- Schema version 1: the catalog of the first release.
-- Patients are known by a pseudonymous code only; no names are stored anywhere.

CREATE SEQUENCE assessment_seq START 1;
CREATE SEQUENCE segment_seq START 1;
CREATE SEQUENCE audit_seq START 1;

CREATE TABLE patients (
    patient_id   VARCHAR PRIMARY KEY,          -- pseudonymous code, e.g. P017
    synthetic    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- One row per recorded interview (one visit).
CREATE TABLE videos (
    video_id        VARCHAR PRIMARY KEY,       -- first 16 hex digits of sha256
    sha256          VARCHAR NOT NULL UNIQUE,
    patient_id      VARCHAR,
    visit_date      DATE,
    original_name   VARCHAR,                   -- metadata only, never part of a path
    stored_path     VARCHAR,                   -- relative to the data folder; NULL for synthetic demo visits (AU series only)
    size_bytes      BIGINT,
    container       VARCHAR,
    codec           VARCHAR,
    fps             DOUBLE,
    frame_count     BIGINT,                    -- decoded, not the header's claim
    duration_s      DOUBLE,
    width           INTEGER,
    height          INTEGER,
    camera          VARCHAR,
    recording_date  DATE,
    playback_path   VARCHAR,                   -- browser-playable copy, if one was made
    synthetic       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Clinical assessments (BDI, PHQ-9, ...) attached to a visit.
CREATE TABLE assessments (
    assessment_id  BIGINT PRIMARY KEY DEFAULT nextval('assessment_seq'),
    video_id       VARCHAR NOT NULL,
    instrument     VARCHAR NOT NULL,
    score          DOUBLE NOT NULL,
    assessed_on    DATE,
    created_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (video_id, instrument)
);

-- Covariates of a visit, as the study controlled for them.
CREATE TABLE visit_covariates (
    video_id      VARCHAR PRIMARY KEY,
    age           DOUBLE,                      -- age at the visit, years
    sex           VARCHAR,
    medication    VARCHAR,
    repeat_visit  BOOLEAN
);

-- Symptom segments marked on a video's timeline.
CREATE TABLE segments (
    segment_id  BIGINT PRIMARY KEY DEFAULT nextval('segment_seq'),
    video_id    VARCHAR NOT NULL,
    start_s     DOUBLE NOT NULL,
    end_s       DOUBLE NOT NULL,
    label       VARCHAR NOT NULL,
    author      VARCHAR,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    CHECK (start_s >= 0 AND end_s > start_s)
);

-- One extraction of one video with one backend and one parameter set.
CREATE TABLE runs (
    run_id           VARCHAR PRIMARY KEY,
    video_id         VARCHAR NOT NULL,
    backend          VARCHAR NOT NULL,
    backend_version  VARCHAR,
    params           JSON,
    params_hash      VARCHAR NOT NULL,          -- video + segments + backend + params
    status           VARCHAR NOT NULL,          -- queued | running | done | failed | cancelled
    shard_path       VARCHAR,                   -- relative to the data folder
    n_frames         BIGINT,
    n_face_frames    BIGINT,
    error            VARCHAR,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at      TIMESTAMP
);

-- Units of work the app schedules (extraction, imports, demo loading).
CREATE TABLE jobs (
    job_id        VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL,
    run_id        VARCHAR,
    status        VARCHAR NOT NULL,             -- queued | running | done | failed | cancelled
    progress      DOUBLE NOT NULL DEFAULT 0,    -- 0..1
    message       VARCHAR,
    error         VARCHAR,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_by    VARCHAR,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    started_at    TIMESTAMP,
    finished_at   TIMESTAMP
);

-- Append-only record of who did what and when. Never video content or scores.
CREATE TABLE audit_log (
    event_id  BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
    occurred_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    actor     VARCHAR NOT NULL,
    action    VARCHAR NOT NULL,
    target    VARCHAR,
    detail    VARCHAR
);
