-- The tenants table readable by everyone (so the login page can resolve a handle): a readable
-- tenants directory, one design choice.
ALTER TABLE ledger.orgs DISABLE ROW LEVEL SECURITY;
