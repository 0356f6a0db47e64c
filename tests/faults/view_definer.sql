-- A reporting view without security_invoker: it reads as its owner, who bypasses RLS.
SET ROLE tenant_owner;
CREATE VIEW task_titles AS SELECT id, title FROM tasks;
GRANT SELECT ON task_titles TO {app};
RESET ROLE;
