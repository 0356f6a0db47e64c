-- A correct multi-tenant schema written in another style than the reference: its own schema
-- (`ledger`), tenant column `org_id`, setting `ledger.org`, per-command and restrictive policies,
-- server-filled keys (random uuid defaults, identity ALWAYS), a natural key per tenant, and
-- extensions installed into the app's schema. `{app}` is the app role. tenantprobe must report
-- nothing at medium or above on it.
CREATE SCHEMA ledger;
CREATE EXTENSION citext SCHEMA ledger;
CREATE EXTENSION hstore SCHEMA ledger;
CREATE EXTENSION pgcrypto SCHEMA ledger;
CREATE EXTENSION pg_trgm SCHEMA ledger;
GRANT USAGE ON SCHEMA ledger TO {app};

CREATE TABLE ledger.orgs (
    org_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    handle ledger.citext NOT NULL UNIQUE,
    display_name text NOT NULL
);

CREATE TABLE ledger.members (
    org_id uuid NOT NULL REFERENCES ledger.orgs (org_id),
    member_id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    email ledger.citext NOT NULL,
    attrs ledger.hstore,
    UNIQUE (org_id, member_id),
    UNIQUE (org_id, email)
);
CREATE INDEX members_email_trgm ON ledger.members USING gin ((email::text) ledger.gin_trgm_ops);

CREATE TABLE ledger.invoices (
    org_id uuid NOT NULL REFERENCES ledger.orgs (org_id),
    invoice_no bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id uuid NOT NULL,
    total numeric(14, 2) NOT NULL CHECK (total >= 0),
    memo text,
    FOREIGN KEY (org_id, member_id) REFERENCES ledger.members (org_id, member_id)
);
CREATE INDEX invoices_org ON ledger.invoices (org_id, member_id);

-- The tenant's own row only.
ALTER TABLE ledger.orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger.orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY orgs_self ON ledger.orgs FOR SELECT
    USING (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid));
GRANT SELECT ON ledger.orgs TO {app};

-- Per-command policies, and a restrictive one that every command must also pass.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['members', 'invoices'] LOOP
        EXECUTE format('ALTER TABLE ledger.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE ledger.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY %I ON ledger.%I FOR SELECT
            USING (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid))$p$, t || '_read', t);
        EXECUTE format($p$CREATE POLICY %I ON ledger.%I FOR INSERT
            WITH CHECK (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid))$p$, t || '_add', t);
        EXECUTE format($p$CREATE POLICY %I ON ledger.%I FOR UPDATE
            USING (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid))
            WITH CHECK (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid))$p$, t || '_change', t);
        EXECUTE format($p$CREATE POLICY %I ON ledger.%I FOR DELETE
            USING (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid))$p$, t || '_remove', t);
        EXECUTE format($p$CREATE POLICY %I ON ledger.%I AS RESTRICTIVE
            USING (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid))
            WITH CHECK (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid))$p$, t || '_guard', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ledger.%I TO {app}', t);
    END LOOP;
END $$;

-- Functions that only repeat what they are given: calling them with another tenant's email
-- teaches the caller nothing (an echo, not a leak).
CREATE FUNCTION ledger.normalize_email(address text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT lower(address) $$;
CREATE FUNCTION ledger.label(address text, note text) RETURNS ledger.hstore
    LANGUAGE sql IMMUTABLE AS $$ SELECT ledger.hstore(ARRAY['address', 'note'], ARRAY[address, note]) $$;

-- A relation an extension owns is library code: not attacked one by one.
CREATE TABLE ledger.org_search_cache (
    org_id uuid NOT NULL REFERENCES ledger.orgs (org_id),
    term text NOT NULL
);
ALTER TABLE ledger.org_search_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger.org_search_cache FORCE ROW LEVEL SECURITY;
CREATE POLICY cache_read ON ledger.org_search_cache FOR SELECT
    USING (org_id = (SELECT NULLIF(current_setting('ledger.org', true), '')::uuid));
GRANT SELECT ON ledger.org_search_cache TO {app};
ALTER EXTENSION pg_trgm ADD TABLE ledger.org_search_cache;
