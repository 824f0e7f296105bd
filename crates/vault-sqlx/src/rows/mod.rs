//! vault-core's row traits on [`crate::transaction::SqlTransaction`]: a module per table, each
//! with its row struct, its statements and its trait. Rows only: every rule (last owner,
//! invitation checks, name folding, single use) runs in vault-core, inside the transaction.

use vault_core::Error;
use vault_core::access::WorkspaceRole;

use crate::arg::Arg;
use crate::error::SqlError;
use crate::transaction::{Row, SqlTransaction};

/// Declares a table's statements from its columns, each named once: `PUT` stores a row,
/// replacing the one with the same key (`put`), or `INSERT` stores a new one and does
/// nothing if its key exists (`insert`); each `NAME = "WHERE …"` is a `SELECT` of every
/// column. `$values` are the placeholders, in the order of the key and then the columns.
macro_rules! table {
    (@list $first:ident $(, $rest:ident)*) => {
        concat!(stringify!($first) $(, ", ", stringify!($rest))*)
    };
    (@set $first:ident $(, $rest:ident)*) => {
        concat!(
            stringify!($first), " = excluded.", stringify!($first)
            $(, ", ", stringify!($rest), " = excluded.", stringify!($rest))*
        )
    };
    (@insert $table:ident ($($key:ident),+) [$($col:ident),+] $values:literal) => {
        concat!(
            "INSERT INTO ", stringify!($table), " (", table!(@list $($key,)+ $($col),+),
            ") VALUES ", $values, " ON CONFLICT (", table!(@list $($key),+), ")"
        )
    };
    (@select $table:ident [$($all:ident),+]) => {};
    (@select $table:ident [$($all:ident),+] $name:ident = $where:literal; $($rest:tt)*) => {
        const $name: &str = concat!(
            "SELECT ", table!(@list $($all),+), " FROM ", stringify!($table), " ", $where
        );
        table!(@select $table [$($all),+] $($rest)*);
    };
    ($table:ident ($($key:ident),+) [$($col:ident),+] put $values:literal;
     $($name:ident = $where:literal;)*) => {
        const PUT: &str = concat!(
            table!(@insert $table ($($key),+) [$($col),+] $values),
            " DO UPDATE SET ", table!(@set $($col),+)
        );
        table!(@select $table [$($key,)+ $($col),+] $($name = $where;)*);
    };
    ($table:ident ($($key:ident),+) [$($col:ident),+] insert $values:literal;
     $($name:ident = $where:literal;)*) => {
        const INSERT: &str = concat!(
            table!(@insert $table ($($key),+) [$($col),+] $values), " DO NOTHING"
        );
        table!(@select $table [$($key,)+ $($col),+] $($name = $where;)*);
    };
}

mod grants;
mod groups;
mod invitations;
mod mail;
mod members;
mod sessions;
mod subscriptions;
mod throttle;
mod tokens;
mod users;
mod workspaces;

impl SqlTransaction {
    /// The row `sql` finds by a key (at most one), read into the domain by `into`.
    async fn one<R: Row, T>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        into: fn(R) -> Result<T, SqlError>,
    ) -> Result<Option<T>, Error> {
        let mut rows = self.fetch_all(sql, args).await?;
        Ok(rows.pop().map(into).transpose()?)
    }

    /// Runs a statement that stores a row.
    async fn put(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<(), Error> {
        self.execute(sql, args).await?;
        Ok(())
    }

    /// Every row a writing statement returns (`RETURNING`), read into the domain by `into`.
    /// Refused in a read view.
    async fn all_written<R: Row, T>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        into: fn(R) -> Result<T, SqlError>,
    ) -> Result<Vec<T>, Error> {
        let rows = self.fetch_written(sql, args).await?;
        Ok(rows.into_iter().map(into).collect::<Result<_, _>>()?)
    }

    /// Every row `sql` finds, read into the domain by `into`.
    async fn all<R: Row, T>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        into: fn(R) -> Result<T, SqlError>,
    ) -> Result<Vec<T>, Error> {
        let rows = self.fetch_all(sql, args).await?;
        Ok(rows.into_iter().map(into).collect::<Result<_, _>>()?)
    }
}

/// A row count as the traits answer it.
fn count(rows: u64) -> u32 {
    u32::try_from(rows).unwrap_or(u32::MAX)
}

/// A stored counter (an `INTEGER`, never negative) as the domain's.
fn counter(table: &'static str, n: i32) -> Result<u32, SqlError> {
    u32::try_from(n).map_err(|_| SqlError::corrupt(table, "negative counter"))
}

fn role_from(table: &'static str, text: &str) -> Result<WorkspaceRole, SqlError> {
    text.parse()
        .map_err(|_| SqlError::corrupt(table, "workspace role"))
}

#[cfg(test)]
mod tests {
    table! {
        things (id, kind) [name, seen_at] put "($1, $2, $3, $4)";
        BY_ID = "WHERE id = $1";
    }

    mod insert_only {
        table! { things (id) [name] insert "($1, $2)"; }

        #[test]
        fn an_insert_does_nothing_on_its_key() {
            assert_eq!(
                INSERT,
                "INSERT INTO things (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"
            );
        }
    }

    #[test]
    fn a_put_replaces_every_column_but_the_key() {
        assert_eq!(
            PUT,
            "INSERT INTO things (id, kind, name, seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id, kind) DO UPDATE SET name = excluded.name, \
             seen_at = excluded.seen_at"
        );
        assert_eq!(
            BY_ID,
            "SELECT id, kind, name, seen_at FROM things WHERE id = $1"
        );
    }
}
