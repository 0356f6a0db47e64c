-- Backward compatible: a nullable column and an index that leads with tenant_id. Code that does
-- not know the column keeps working; nothing is renamed, dropped or made NOT NULL without default.
ALTER TABLE tasks ADD COLUMN due_on date;
CREATE INDEX tasks_tenant_due_idx ON tasks (tenant_id, due_on);
