-- TRUNCATE granted to the app role (TRUNCATE ignores RLS).
GRANT TRUNCATE ON tasks TO {app};
