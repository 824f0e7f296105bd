//! Accounts and access together on one store, as a host application wires them: sessions
//! switch only into the user's workspaces, and lose a workspace the user was removed from.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use secrecy::SecretString;
use vault_core::access::{AccessControl, Catalog, WorkspaceRole};
use vault_core::accounts::{Accounts, Client, Outbox, Proof, SessionToken, SignIn};
use vault_core::password::{HashParams, Passwords};
use vault_core::totp::{SealingKey, Totp};
use vault_core::{ManualClock, MemoryStore, UserId};

const PASSWORD: &str = "violet-otter-planet-92-saxophone";

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

struct App {
    accounts: Accounts,
    access: AccessControl,
    outbox: Outbox,
}

fn app() -> App {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::default();
    let access = AccessControl::builder(store.clone(), Catalog::new([]).unwrap())
        .clock(clock.clone())
        .build();
    let outbox = Outbox::new();
    let passwords = Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .build()
        .unwrap();
    let totp = Totp::new("Vault", SealingKey::generate().unwrap()).unwrap();
    let accounts = Accounts::builder(store, passwords, totp, Arc::new(outbox.clone()))
        .clock(clock)
        .membership(Arc::new(access.clone()))
        .build();
    App {
        accounts,
        access,
        outbox,
    }
}

impl App {
    async fn person(&self, email: &str) -> (UserId, SessionToken) {
        self.accounts.sign_up("Someone", email).await.unwrap();
        self.accounts.deliver_mail().await.unwrap();
        let mail = self.outbox.last_to(email).unwrap();
        let token = mail.token.expect("a link");
        let user = self
            .accounts
            .complete_sign_up(&Proof::Link(token), secret(PASSWORD))
            .await
            .unwrap();
        let client = Client::at(IpAddr::V4(Ipv4Addr::LOCALHOST));
        match self
            .accounts
            .sign_in(email, secret(PASSWORD), client)
            .await
            .unwrap()
        {
            SignIn::Session(s) => (user, s.token),
            other => unreachable!("no 2FA here: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_removed_member_loses_the_workspace_in_every_session() {
    let app = app();
    let (owner, owner_session) = app.person("owner@example.com").await;
    let (member, session) = app.person("member@example.com").await;
    // Actors come from verified sessions only.
    let owner_actor = app.accounts.actor(&owner_session).await.unwrap();
    assert_eq!(owner_actor.user_id(), owner);
    let member_actor = app.accounts.actor(&session).await.unwrap();
    assert_eq!(member_actor.user_id(), member);
    assert!(!member_actor.two_factor_passed());
    let workspace = app
        .access
        .create_workspace(&owner_actor, "Acme")
        .await
        .unwrap();

    // Not a member yet: the session cannot switch there.
    assert!(
        app.accounts
            .switch_workspace(&session, workspace.id)
            .await
            .is_err()
    );

    let invitation = app
        .access
        .invite(
            &owner_actor,
            workspace.id,
            "member@example.com",
            WorkspaceRole::Member,
        )
        .await
        .unwrap();
    app.access
        .accept_invitation(
            &member_actor,
            invitation.token.expose_secret(),
            "member@example.com",
        )
        .await
        .unwrap();
    let switched = app
        .accounts
        .switch_workspace(&session, workspace.id)
        .await
        .unwrap();
    assert_eq!(switched.active_workspace, Some(workspace.id));

    app.access
        .remove_member(&owner_actor, workspace.id, member)
        .await
        .unwrap();
    let after = app.accounts.authenticate(&session).await.unwrap();
    assert_eq!(
        after.active_workspace, None,
        "the session dropped the workspace"
    );
    assert!(
        app.accounts
            .switch_workspace(&session, workspace.id)
            .await
            .is_err()
    );
}
