-- A foreign key on the id alone: a task may reference another tenant's project, and the
-- outcome tells whether that project exists.
ALTER TABLE tasks DROP CONSTRAINT tasks_tenant_id_project_id_fkey;
CREATE UNIQUE INDEX projects_id_key ON projects (id);
ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id);
