#!/bin/sh
# The database of the service and its two roles (docs/deployment.md): cpt64640_owner owns the database and its
# tables and runs `cpt64640 db upgrade`; cpt64640_service, which the instances and `db prune` use, may read and
# write rows but not create, alter or drop anything. The postgres image runs this once, on an empty data folder,
# as its superuser; the passwords come from the container's environment.
set -eu
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v owner_password="$CDS_DB_OWNER_PASSWORD" -v service_password="$CDS_DB_SERVICE_PASSWORD" <<'SQL'
CREATE ROLE cpt64640_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE cpt64640_service LOGIN PASSWORD :'service_password';
CREATE DATABASE cpt64640 OWNER cpt64640_owner;
\connect cpt64640
-- Only the owner creates objects (PostgreSQL 15+ already denies CREATE on public to other roles; older ones not).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO cpt64640_service;
-- Rows of every table and sequence the owner creates from now on, migrations included.
ALTER DEFAULT PRIVILEGES FOR ROLE cpt64640_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cpt64640_service;
ALTER DEFAULT PRIVILEGES FOR ROLE cpt64640_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO cpt64640_service;
SQL
