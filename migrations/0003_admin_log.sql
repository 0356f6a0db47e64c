-- The admin panel's global log: one row per impersonation step (start, escalate, end), across
-- tenants, next to the per-tenant trail in audit_events. It lives in its own schema that app_user
-- cannot even see: the API never reads it, only the panel's own connection (ADMIN_DATABASE_URL)
-- writes and reads it. Additive only: nothing existing changes.
CREATE SCHEMA admin;
REVOKE ALL ON SCHEMA admin FROM PUBLIC;

CREATE TABLE admin.admin_log (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    admin      text        NOT NULL,
    action     text        NOT NULL,
    tenant_id  uuid        REFERENCES public.tenants (id),
    reason     text,
    detail     jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_log_created_idx ON admin.admin_log (created_at);
CREATE INDEX admin_log_tenant_idx ON admin.admin_log (tenant_id, created_at);
