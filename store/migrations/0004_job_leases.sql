-- Schema step 4: the catalog is shared by the dashboard and command-line
-- processes, any of which may drive extraction jobs. A running job belongs to
-- the driver holding its lease; past the lease (or once that process is gone)
-- another driver may take it over, resuming from its finished chunks.

ALTER TABLE jobs ADD COLUMN driver VARCHAR;          -- host:pid:token of the process advancing the job
ALTER TABLE jobs ADD COLUMN lease_expires DOUBLE;    -- epoch seconds
