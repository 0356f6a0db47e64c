-- A policy that fails open when the setting is unset or empty.
DROP POLICY tenant_isolation ON projects;
CREATE POLICY tenant_isolation ON projects
    USING (NULLIF(current_setting('app.current_tenant', true), '') IS NULL
           OR tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);
