-- Cluster-wide roles of the reference architecture. Roles belong to the whole PostgreSQL cluster,
-- not to one database, so they are created once per cluster by a superuser, before the migrations
-- run. Idempotent. (sqlx's migrator ignores this file: its name has no version prefix.)
--
--   tenant_owner  owns every object and runs the migrations. BYPASSRLS so that migrations and the
--                 slug-resolution function can see every tenant; the app never connects as it.
--   app_user      what the application connects as: no superuser, no BYPASSRLS, owns nothing,
--                 holds only the grants the migrations give it. RLS applies to it everywhere.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tenant_owner') THEN
        CREATE ROLE tenant_owner LOGIN BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app_user') THEN
        CREATE ROLE app_user LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
