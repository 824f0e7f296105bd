//! `Services`: one clock and one audit sink for accounts, access and keys, and the services
//! wired to each other (sessions switch only to the user's workspaces).

use std::net::Ipv4Addr;
use std::sync::Arc;

use secrecy::SecretString;
use time::Duration;
use vault_core::access::{AccessDefect, Catalog, WorkspaceRole};
use vault_core::accounts::{AccountDefect, Client, MailKind, Outbox, Proof, SessionToken, SignIn};
use vault_core::audit::MemoryAuditSink;
use vault_core::password::{HashParams, Passwords};
use vault_core::totp::{SealingKey, Totp};
use vault_core::{
    AuthError, Clock, Environment, Error, ManualClock, MemoryStore, NewKey, Pepper, PermissionSet,
    Requirement, Services,
};

const PASSWORD: &str = "violet-otter-planet-92-saxophone";

struct Kit {
    services: Services,
    outbox: Outbox,
    clock: ManualClock,
    audit: MemoryAuditSink,
}

fn kit() -> Kit {
    let (outbox, clock, audit) = (
        Outbox::new(),
        ManualClock::default(),
        MemoryAuditSink::new(),
    );
    let services = Services::builder(
        Arc::new(MemoryStore::new()),
        &Pepper::generate().unwrap(),
        Catalog::new([]).unwrap(),
        Passwords::builder()
            .params(HashParams::INSECURE_FAST)
            .build()
            .unwrap(),
        Totp::new("Vault", SealingKey::generate().unwrap()).unwrap(),
        Arc::new(outbox.clone()),
    )
    .clock(clock.clone())
    .audit(Arc::new(audit.clone()))
    .build();
    Kit {
        services,
        outbox,
        clock,
        audit,
    }
}

impl Kit {
    async fn signed_in(&self, email: &str) -> SessionToken {
        let accounts = &self.services.accounts;
        accounts.sign_up("Ada", email).await.unwrap();
        accounts.deliver_mail().await.unwrap();
        let mail = self.outbox.last_of(MailKind::VerifyEmail, email).unwrap();
        let proof = Proof::Link(mail.token.unwrap());
        accounts
            .complete_sign_up(&proof, SecretString::from(PASSWORD))
            .await
            .unwrap();
        self.sign_in(email).await
    }

    async fn sign_in(&self, email: &str) -> SessionToken {
        let accounts = &self.services.accounts;
        let client = Client::at(Ipv4Addr::LOCALHOST.into());
        match accounts
            .sign_in(email, SecretString::from(PASSWORD), client)
            .await
        {
            Ok(SignIn::Session(s)) => s.token,
            other => panic!("sign-in answered {other:?}"),
        }
    }
}

#[tokio::test]
async fn one_clock_moves_sessions_invitations_and_keys_alike() {
    let kit = kit();
    let s = &kit.services;
    let session = kit.signed_in("ada@example.com").await;
    let actor = s.accounts.actor(&session).await.unwrap();
    let workspace = s.access.create_workspace(&actor, "Acme").await.unwrap();
    let invited = s
        .access
        .invite(
            &actor,
            workspace.id,
            "grace@example.com",
            WorkspaceRole::Member,
        )
        .await
        .unwrap();
    let key = s
        .keys
        .issue(NewKey {
            workspace_id: workspace.id,
            product: "submit".parse().unwrap(),
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
            name: "reporting".into(),
            created_by: actor.user_id(),
            expires_at: Some(kit.clock.now() + Duration::days(3)),
        })
        .await
        .unwrap();
    kit.signed_in("grace@example.com").await;

    kit.clock.advance(Duration::days(8));
    for service_now in [s.keys.now(), s.access.now()] {
        assert_eq!(service_now, kit.clock.now());
    }
    let need = Requirement::new("submit".parse().unwrap(), Environment::Production);
    assert!(matches!(
        s.keys.verify(key.expose_token(), &need).await,
        Err(AuthError::ExpiredKey)
    ));
    assert!(matches!(
        s.accounts.authenticate(&session).await,
        Err(Error::Account(AccountDefect::InvalidSession))
    ));
    // Grace signs in again (her first session expired too): the invitation has expired.
    let grace = kit.sign_in("grace@example.com").await;
    let grace = s.accounts.actor(&grace).await.unwrap();
    let accepted = s
        .access
        .accept_invitation(&grace, invited.token.expose_secret(), "grace@example.com")
        .await;
    assert!(matches!(
        accepted,
        Err(Error::Access(AccessDefect::InvitationExpired))
    ));
}

#[tokio::test]
async fn sessions_switch_only_to_the_users_workspaces_and_one_sink_hears_everything() {
    let kit = kit();
    let s = &kit.services;
    let session = kit.signed_in("ada@example.com").await;
    let actor = s.accounts.actor(&session).await.unwrap();
    let ours = s.access.create_workspace(&actor, "Acme").await.unwrap();
    let other = kit.signed_in("bob@example.com").await;
    let bob = s.accounts.actor(&other).await.unwrap();
    let theirs = s.access.create_workspace(&bob, "Elsewhere").await.unwrap();

    let switched = s
        .accounts
        .switch_workspace(&session, ours.id)
        .await
        .unwrap();
    assert_eq!(switched.active_workspace, Some(ours.id));
    assert!(matches!(
        s.accounts.switch_workspace(&session, theirs.id).await,
        Err(Error::Account(AccountDefect::NotAMember))
    ));
    let actions: Vec<&str> = kit.audit.events().iter().map(|e| e.action).collect();
    assert!(
        actions.contains(&"account.sign_in.succeeded"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a.starts_with("access.")),
        "{actions:?}"
    );
}
