//! vault-core's access flows (`crates/vault-core/tests/access.rs` and `access_keys.rs`: the
//! product-doc scenarios of invitations, roles, groups, grants, 2FA policy and key minting),
//! run unchanged against `SqlStore` on SQLite and PostgreSQL. `build.rs` copies the two files
//! without their header; `access_flows/kit.rs` is their kit over a fresh SQL store.

mod support;

macro_rules! flows_over {
    ($backend:ident, $kind:expr) => {
        mod $backend {
            #[allow(dead_code)] // Each flow file uses a part.
            pub mod access_support {
                const KIND: crate::support::Kind = $kind;
                include!("access_flows/kit.rs");
            }

            mod access {
                use super::access_support;
                include!(concat!(env!("OUT_DIR"), "/access.rs"));
            }

            mod access_keys {
                use super::access_support;
                include!(concat!(env!("OUT_DIR"), "/access_keys.rs"));
            }
        }
    };
}

flows_over!(sqlite, crate::support::Kind::Sqlite);
flows_over!(postgres, crate::support::Kind::Postgres);
