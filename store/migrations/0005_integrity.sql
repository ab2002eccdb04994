-- Schema version 5: every stored byte is verifiable.
-- A shard's and a playback copy's sha256 are recorded when they are written (a
-- video's own sha256 has been in videos.sha256 from the start); what a video's
-- container claims beside what decodes, so a damaged recording is visible;
-- what each backup archived; and the outcome of each store verification.

ALTER TABLE runs ADD COLUMN shard_sha256 VARCHAR;
ALTER TABLE videos ADD COLUMN playback_sha256 VARCHAR;
ALTER TABLE videos ADD COLUMN header_frame_count BIGINT;   -- the container's claim; NULL when it makes none
ALTER TABLE videos ADD COLUMN decode_errors BIGINT;        -- decoder error messages counted while probing

CREATE SEQUENCE verification_seq START 1;
CREATE TABLE verifications (
    verification_id  BIGINT PRIMARY KEY DEFAULT nextval('verification_seq'),
    started_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    actor            VARCHAR NOT NULL,
    files_checked    BIGINT NOT NULL,
    problems         JSON NOT NULL                           -- list of one-line problems; [] when clean
);

CREATE TABLE backups (
    archive      VARCHAR PRIMARY KEY,                        -- absolute path of the tar written
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    sha256       VARCHAR NOT NULL,                           -- of the whole archive
    files        BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    damaged      BOOLEAN NOT NULL DEFAULT FALSE              -- written with --allow-damaged over a failed verification
);

CREATE TABLE backup_members (
    archive  VARCHAR NOT NULL,
    path     VARCHAR NOT NULL,                               -- member name, relative to the data folder
    size     BIGINT NOT NULL,
    sha256   VARCHAR NOT NULL,
    PRIMARY KEY (archive, path)
);
