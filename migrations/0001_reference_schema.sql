-- The reference shared-schema multi-tenant database. Runs as tenant_owner, which owns every object.
--
-- Isolation, the same on every tenant table and every partition:
--   * RLS enabled AND forced (FORCE keeps it on even for a role that owns the table);
--   * one policy, USING and WITH CHECK, pinning rows to the tenant that the transaction set with
--     SELECT set_config('app.current_tenant', '<uuid>', true);
--   * the setting is read through NULLIF(…, '') so that "no tenant" (NULL on a fresh connection,
--     '' on a pooled one after an earlier transaction set it) yields no rows instead of an error or,
--     worse, a fallback; and inside (SELECT …) so it is evaluated once per statement, not per row;
--   * every index, unique key and foreign key leads with tenant_id, so keys never span tenants.

CREATE TABLE tenants (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text        NOT NULL,
    slug       text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    plan       text        NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise')),
    created_at timestamptz NOT NULL DEFAULT now(),
    settings   jsonb       NOT NULL DEFAULT '{}'
);

CREATE TABLE users (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    email      text        NOT NULL,
    role       text        NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE projects (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    name       text        NOT NULL,
    status     text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX projects_tenant_created_idx ON projects (tenant_id, created_at);

CREATE TABLE tasks (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    project_id  uuid        NOT NULL,
    assignee_id uuid,
    title       text        NOT NULL,
    done        boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Composite keys: a task can only point at a project or user of its own tenant.
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (assignee_id)
);
CREATE INDEX tasks_tenant_project_idx ON tasks (tenant_id, project_id);
CREATE INDEX tasks_tenant_assignee_idx ON tasks (tenant_id, assignee_id);

-- Append-only audit trail, hash-partitioned by tenant. Partitions get their own RLS: a query that
-- names a partition directly is checked against the partition's policies, not the parent's.
CREATE TABLE audit_events (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    actor      text        NOT NULL,
    action     text        NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
CREATE TABLE audit_events_p0 PARTITION OF audit_events FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE audit_events_p1 PARTITION OF audit_events FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE audit_events_p2 PARTITION OF audit_events FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE audit_events_p3 PARTITION OF audit_events FOR VALUES WITH (MODULUS 4, REMAINDER 3);
CREATE INDEX audit_events_tenant_created_idx ON audit_events (tenant_id, created_at);

-- Row-level security: enabled, forced, one tenant policy per table and partition.
DO $$
DECLARE
    rel text;
    key text;
BEGIN
    FOR rel, key IN VALUES
        ('tenants', 'id'), ('users', 'tenant_id'), ('projects', 'tenant_id'), ('tasks', 'tenant_id'),
        ('audit_events', 'tenant_id'), ('audit_events_p0', 'tenant_id'),
        ('audit_events_p1', 'tenant_id'), ('audit_events_p2', 'tenant_id'),
        ('audit_events_p3', 'tenant_id')
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', rel);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', rel);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I FOR ALL '
            'USING (%2$I = (SELECT NULLIF(current_setting(''app.current_tenant'', true), '''')::uuid)) '
            'WITH CHECK (%2$I = (SELECT NULLIF(current_setting(''app.current_tenant'', true), '''')::uuid))',
            rel, key);
    END LOOP;
END
$$;

-- Reporting view. security_invoker makes the view run with the caller's rights, so the callers'
-- RLS applies to the tables underneath (without it the view would read as its owner).
CREATE VIEW project_summaries WITH (security_invoker = true) AS
SELECT p.tenant_id,
       p.id                                  AS project_id,
       p.name,
       p.status,
       count(t.id)                           AS task_count,
       count(t.id) FILTER (WHERE t.done)     AS done_count
FROM projects p
LEFT JOIN tasks t ON t.tenant_id = p.tenant_id AND t.project_id = p.id
GROUP BY p.tenant_id, p.id, p.name, p.status;

-- The one justified exception: mapping a subdomain slug to a tenant id must happen before any
-- tenant is set, so it runs as the owner (SECURITY DEFINER). It is narrow on purpose: one slug in,
-- one id out, a pinned search_path, and EXECUTE for app_user only.
CREATE FUNCTION tenant_id_for_slug(p_slug text) RETURNS uuid
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$ SELECT id FROM public.tenants WHERE slug = p_slug $$;
REVOKE ALL ON FUNCTION tenant_id_for_slug(text) FROM PUBLIC;

-- app_user: only what the API needs. No TRUNCATE, REFERENCES or TRIGGER anywhere; nothing on the
-- partitions directly; audit events are append-only.
GRANT SELECT ON tenants TO app_user;
GRANT UPDATE (name, settings) ON tenants TO app_user;
GRANT SELECT ON users TO app_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks TO app_user;
GRANT SELECT, INSERT ON audit_events TO app_user;
GRANT SELECT ON project_summaries TO app_user;
GRANT EXECUTE ON FUNCTION tenant_id_for_slug(text) TO app_user;
