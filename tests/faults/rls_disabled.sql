-- RLS switched off on a tenant table.
ALTER TABLE projects DISABLE ROW LEVEL SECURITY;
