//! vault-core's store conformance suite (`vault_core::store_conformance!`: the row cases, the
//! races, the access flows and the atomicity cases) on `SqlStore`: each case on a SQLite
//! file and on a PostgreSQL schema of its own, removed after the case.
//! PostgreSQL must be reachable (`VAULT_TEST_POSTGRES_URL`): without it these tests fail.

mod support;

mod sqlite {
    use super::support::{Fresh, Kind};

    vault_core::store_conformance!(async || Fresh::open(Kind::Sqlite).await);
}

mod postgres {
    use super::support::{Fresh, Kind};

    vault_core::store_conformance!(async || Fresh::open(Kind::Postgres).await);
}
