-- Administrators may change the catalog; a job that failed its last attempt
-- is set aside (failed_at) for an operator instead of being retried forever.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN failed_at timestamptz;
