-- The app role has BYPASSRLS. (A role of the test's own, member of app_user, stands for it:
-- roles are cluster-wide and other tests share app_user.)
CREATE ROLE {app} LOGIN BYPASSRLS IN ROLE app_user;
