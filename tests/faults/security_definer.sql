-- A SECURITY DEFINER helper that returns any tenant's project names.
SET ROLE tenant_owner;
CREATE FUNCTION project_names(p_tenant uuid) RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT name FROM public.projects WHERE tenant_id = p_tenant $$;
GRANT EXECUTE ON FUNCTION project_names(uuid) TO {app};
RESET ROLE;
