-- A permissive policy that is always true, OR-ed with the tenant policy.
CREATE POLICY open_read ON tasks FOR SELECT USING (true);
