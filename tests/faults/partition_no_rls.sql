-- One partition without RLS, readable directly.
ALTER TABLE audit_events_p0 DISABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events_p1 DISABLE ROW LEVEL SECURITY;
GRANT SELECT ON audit_events_p0, audit_events_p1 TO {app};
