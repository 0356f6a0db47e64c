-- Emails unique across tenants: a tenant-chosen natural key, so an existence oracle.
CREATE UNIQUE INDEX members_email_global ON ledger.members (email);
