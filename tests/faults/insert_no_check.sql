-- An INSERT policy without a tenant check, OR-ed with the tenant policy.
CREATE POLICY anyone_may_insert ON projects FOR INSERT WITH CHECK (true);
