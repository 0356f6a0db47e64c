-- An UPDATE policy whose WITH CHECK does not pin the tenant: rows can move to another tenant.
DROP POLICY tenant_isolation ON projects;
CREATE POLICY tenant_isolation ON projects
    USING (tenant_id = (SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid))
    WITH CHECK (tenant_id IS NOT NULL);
