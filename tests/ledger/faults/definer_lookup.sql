-- A SECURITY DEFINER lookup (owned by the administrator, so RLS does not apply): given another
-- tenant's member id, it returns that member's email, which the caller did not pass.
CREATE FUNCTION ledger.member_email(member uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
    AS $$ SELECT email::text FROM ledger.members WHERE member_id = member $$;
