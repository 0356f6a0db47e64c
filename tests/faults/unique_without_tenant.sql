-- A unique key across tenants: project names collide between tenants.
CREATE UNIQUE INDEX projects_name_key ON projects (name);
