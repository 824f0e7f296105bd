//! Atomicity cases: every compound flow of accounts and access, run once for each of its
//! writes and commits with a fault injected at that step ([`FaultyStore`]). Each faulted run
//! must answer the store failure and leave every row it could touch as it was
//! ([`Snapshot`]), and send no mail about a change that did not happen; the last run, with
//! no fault left to hit, must succeed. The store conformance suite runs them on every store.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use time::Duration;

use super::faults::{FaultyStore, Snapshot};
use crate::Error;
use crate::access::{AccessControl, Actor, Catalog, Grantee, Product, ProductRole, WorkspaceRole};
use crate::accounts::{
    Accounts, AccountsConfig, Client, Email, Links, Outbox, Proof, SessionToken, SignIn,
    ThrottleKey, ThrottleState,
};
use crate::clock::{Clock, ManualClock};
use crate::ids::{UserId, WorkspaceId};
use crate::password::{HashParams, Passwords};
use crate::store::{Scope, Store};
use crate::totp::{SealedSecret, SealingKey, Totp};

const PASSWORD: &str = "violet-otter-planet-92-saxophone";
const NEW_PASSWORD: &str = "amber lantern drifting over 7 dunes";

/// The services of a case, over a [`FaultyStore`].
struct Kit {
    faults: Arc<FaultyStore>,
    accounts: Accounts,
    access: AccessControl,
    outbox: Outbox,
    clock: ManualClock,
    totp: Totp,
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn client() -> Client {
    Client::at(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
}

fn totp(key: &SecretString) -> Totp {
    Totp::new(
        "Vault",
        SealingKey::from_base64(key.expose_secret()).unwrap(),
    )
    .unwrap()
}

/// A signed-up person with a session.
struct Person {
    id: UserId,
    email: String,
    session: SessionToken,
}

impl Kit {
    fn new(store: Arc<dyn Store>) -> Self {
        let faults = Arc::new(FaultyStore::new(store));
        let outbox = Outbox::new();
        let clock = ManualClock::default();
        let key = SealingKey::generate().unwrap().to_base64();
        let passwords = Passwords::builder()
            .params(HashParams::INSECURE_FAST)
            .build()
            .unwrap();
        let catalog = Catalog::new([Product::new("submit")
            .unwrap()
            .role(ProductRole::new("viewer", ["jobs:read"]).unwrap())])
        .unwrap();
        let access = AccessControl::builder(faults.clone(), catalog)
            .clock(clock.clone())
            .build();
        let accounts = Accounts::builder(
            faults.clone(),
            passwords,
            totp(&key),
            Arc::new(outbox.clone()),
        )
        .clock(clock.clone())
        .membership(Arc::new(access.clone()))
        .config(AccountsConfig {
            links: Links::new("https://vault.example"),
            ..AccountsConfig::default()
        })
        .build();
        Self {
            faults,
            accounts,
            access,
            outbox,
            clock,
            totp: totp(&key),
        }
    }

    /// Delivers every queued mail (with no fault armed).
    async fn deliver(&self) {
        self.accounts.deliver_mail().await.expect("mail delivered");
    }

    async fn link_token(&self, to: &str) -> SecretString {
        self.deliver().await;
        let mail = self.outbox.last_to(to).expect("a mail");
        mail.token.expect("a link")
    }

    async fn mailed_code(&self, to: &str) -> SecretString {
        self.deliver().await;
        let mail = self.outbox.last_to(to).expect("a mail");
        mail.code.expect("a code")
    }

    async fn signed_up(&self) -> (UserId, String) {
        let email = format!("{}@example.com", UserId::random());
        self.accounts.sign_up("Ada Lovelace", &email).await.unwrap();
        let id = self
            .accounts
            .complete_sign_up(
                &Proof::Link(self.link_token(&email).await),
                secret(PASSWORD),
            )
            .await
            .unwrap();
        (id, email)
    }

    async fn person(&self) -> Person {
        let (id, email) = self.signed_up().await;
        let session = match self
            .accounts
            .sign_in(&email, secret(PASSWORD), client())
            .await
            .unwrap()
        {
            SignIn::Session(s) => s.token,
            other => panic!("no 2FA yet, no attack: {other:?}"),
        };
        Person { id, email, session }
    }

    /// A person with 2FA on; answers the sealed secret too.
    async fn person_with_2fa(&self) -> (Person, SealedSecret) {
        let mut person = self.person().await;
        let enrolment = self
            .accounts
            .begin_two_factor(&person.session)
            .await
            .unwrap();
        let code = self
            .totp
            .code_at(person.id, &enrolment.sealed, self.clock.now())
            .unwrap();
        let enabled = self
            .accounts
            .confirm_two_factor(&person.session, code.expose_secret())
            .await
            .unwrap();
        person.session = enabled.session.token;
        // The next code is of a later step (the confirming one is used).
        self.clock.advance(Duration::seconds(30));
        (person, enrolment.sealed)
    }

    /// Spends the pool of `email`'s account and hands out every share, as many addresses
    /// guessing would.
    async fn spend_the_pool(&self, email: &str) {
        let email = Email::parse(email).unwrap().normalized().to_owned();
        let now = self.clock.now();
        let pool = ThrottleKey::SignIn {
            email: email.clone(),
        };
        let shares = ThrottleKey::SignInShares { email };
        let scope = Scope::throttle(pool.clone()).and_throttle(shares.clone());
        let mut tx = self.faults.begin(scope).await.unwrap();
        let spent = ThrottleState {
            locked_until: Some(now + Duration::hours(1)),
            locks: 1,
            ..ThrottleState::default()
        };
        tx.put_throttle(&pool, &spent).await.unwrap();
        let handed_out = ThrottleState {
            attempts: 10,
            window_start: Some(now),
            ..ThrottleState::default()
        };
        tx.put_throttle(&shares, &handed_out).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn actor(&self, person: &Person) -> Actor {
        self.accounts.actor(&person.session).await.unwrap()
    }

    /// A workspace owned by a new person, and that person.
    async fn workspace(&self) -> (WorkspaceId, Person, Actor) {
        let owner = self.person().await;
        let actor = self.actor(&owner).await;
        let workspace = self.access.create_workspace(&actor, "Acme").await.unwrap();
        (workspace.id, owner, actor)
    }

    /// A new member of `workspace` with `role`.
    async fn member(
        &self,
        workspace: WorkspaceId,
        owner: &Actor,
        role: WorkspaceRole,
    ) -> (Person, Actor) {
        let person = self.person().await;
        let invited = self
            .access
            .invite(owner, workspace, &person.email, role)
            .await
            .unwrap();
        let actor = self.actor(&person).await;
        self.access
            .accept_invitation(&actor, invited.token.expose_secret(), &person.email)
            .await
            .unwrap();
        (person, actor)
    }
}

/// Runs `$flow` against a state made by `$setup`, once per store step: the Nth run fails the
/// Nth write or commit and must change nothing the snapshot reads and send no mail; the first
/// run that hits no fault must succeed. A macro rather than a function taking closures, so
/// each case stays one `Send` future.
macro_rules! all_or_nothing {
    ($kit:expr, $name:expr, $setup:expr, |$state:pat_param| $flow:expr $(,)?) => {{
        let (kit, name): (&Kit, &str) = ($kit, $name);
        let mut finished = false;
        for n in 1..=64u64 {
            let (state, users, workspaces): (_, Vec<UserId>, Vec<WorkspaceId>) = $setup.await;
            kit.deliver().await;
            let before = Snapshot::take(&*kit.faults, &users, &workspaces)
                .await
                .unwrap();
            let mails = kit.outbox.messages().len();
            kit.faults.fail_step(n);
            let outcome: Result<(), Error> = {
                let $state = &state;
                $flow.await
            };
            let tripped = kit.faults.tripped();
            kit.faults.fail_step(0);
            // The snapshot holds the queued mails; then what the worker sends is counted.
            let after = Snapshot::take(&*kit.faults, &users, &workspaces)
                .await
                .unwrap();
            kit.deliver().await;
            if check_step(name, n, tripped, outcome, &before, &after, mails, kit) {
                finished = true;
                break;
            }
        }
        assert!(finished, "{name}: more than 64 steps");
    }};
}

/// Judges one run of [`all_or_nothing!`]; `true` when the flow ran to its end.
#[allow(clippy::too_many_arguments)]
fn check_step(
    name: &str,
    n: u64,
    tripped: bool,
    outcome: Result<(), Error>,
    before: &Snapshot,
    after: &Snapshot,
    mails: usize,
    kit: &Kit,
) -> bool {
    if !tripped {
        if let Err(err) = outcome {
            panic!("{name}: the run without a fault failed: {err}");
        }
        assert!(n > 1, "{name}: the flow wrote nothing");
        return true;
    }
    match outcome {
        Err(Error::StoreUnavailable(_)) => {}
        other => panic!("{name}: a fault at step {n} answered {other:?}"),
    }
    assert!(
        after == before,
        "{name}: a fault at step {n} left a change behind"
    );
    assert_eq!(
        kit.outbox.messages().len(),
        mails,
        "{name}: a fault at step {n} still sent mail"
    );
    false
}

/// Sign-up's confirm step (the token's use, the password and the verified address) is one
/// unit, and so is sign-in (cleared counters and the session).
pub async fn sign_up_and_sign_in_are_all_or_nothing(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    all_or_nothing!(
        &kit,
        "complete_sign_up",
        async {
            let email = format!("{}@example.com", UserId::random());
            kit.accounts.sign_up("Ada", &email).await.unwrap();
            let id = kit
                .faults
                .read()
                .await
                .unwrap()
                .user_by_email(&Email::parse(&email).unwrap())
                .await
                .unwrap()
                .unwrap()
                .id;
            (kit.link_token(&email).await, vec![id], vec![])
        },
        |token| async {
            kit.accounts
                .complete_sign_up(&Proof::Link(token.clone()), secret(PASSWORD))
                .await
                .map(|_| ())
        },
    );
    all_or_nothing!(
        &kit,
        "sign_in",
        async {
            let (id, email) = kit.signed_up().await;
            (email, vec![id], vec![])
        },
        |email| async {
            kit.accounts
                .sign_in(email, secret(PASSWORD), client())
                .await
                .map(|_| ())
        },
    );
}

/// A password change: the new hash, the other sessions ended and this one renewed.
pub async fn password_change_is_all_or_nothing(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    all_or_nothing!(
        &kit,
        "change_password",
        async {
            let person = kit.person().await;
            // A second session that the change must end, or keep on failure.
            kit.accounts
                .sign_in(&person.email, secret(PASSWORD), client())
                .await
                .unwrap();
            let id = person.id;
            (person, vec![id], vec![])
        },
        |person| async {
            kit.accounts
                .change_password(&person.session, secret(PASSWORD), secret(NEW_PASSWORD))
                .await
                .map(|_| ())
        },
    );
}

/// A reset: the token's use, the new hash, every session ended, by link and by code.
pub async fn password_reset_is_all_or_nothing(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    for by_code in [false, true] {
        all_or_nothing!(
            &kit,
            if by_code {
                "reset_password (code)"
            } else {
                "reset_password (link)"
            },
            async {
                let person = kit.person().await;
                kit.accounts.forgot_password(&person.email).await.unwrap();
                let proof = if by_code {
                    Proof::Code {
                        email: person.email.clone(),
                        code: kit.mailed_code(&person.email).await,
                    }
                } else {
                    Proof::Link(kit.link_token(&person.email).await)
                };
                let id = person.id;
                (proof, vec![id], vec![])
            },
            |proof| async {
                kit.accounts
                    .reset_password(proof, secret(NEW_PASSWORD))
                    .await
            },
        );
    }
}

/// An email change's confirmation: the token's use and the new address.
pub async fn email_change_is_all_or_nothing(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    all_or_nothing!(
        &kit,
        "confirm_email_change",
        async {
            let person = kit.person().await;
            let new = format!("{}@example.org", UserId::random());
            kit.accounts
                .change_email(&person.session, &new)
                .await
                .unwrap();
            (kit.link_token(&new).await, vec![person.id], vec![])
        },
        |token| async {
            kit.accounts
                .confirm_email_change(&Proof::Link(token.clone()))
                .await
        },
    );
}

/// Two-factor steps: confirming enrolment (state, recovery codes, renewed session),
/// completing a sign-in (the code's use, the challenge's use, the session) and disabling.
pub async fn two_factor_steps_are_all_or_nothing(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    all_or_nothing!(
        &kit,
        "confirm_two_factor",
        async {
            let person = kit.person().await;
            let enrolment = kit
                .accounts
                .begin_two_factor(&person.session)
                .await
                .unwrap();
            let id = person.id;
            ((person, enrolment.sealed), vec![id], vec![])
        },
        |(person, sealed)| async {
            let code = kit
                .totp
                .code_at(person.id, sealed, kit.clock.now())
                .unwrap();
            kit.accounts
                .confirm_two_factor(&person.session, code.expose_secret())
                .await
                .map(|_| ())
        },
    );
    all_or_nothing!(
        &kit,
        "complete_two_factor",
        async {
            let (person, sealed) = kit.person_with_2fa().await;
            let challenge = match kit
                .accounts
                .sign_in(&person.email, secret(PASSWORD), client())
                .await
                .unwrap()
            {
                SignIn::TwoFactorRequired(c) => c,
                other => panic!("2FA is on: {other:?}"),
            };
            let id = person.id;
            ((person.id, sealed, challenge), vec![id], vec![])
        },
        |(user, sealed, challenge)| async {
            let code = kit.totp.code_at(*user, sealed, kit.clock.now()).unwrap();
            kit.accounts
                .complete_two_factor(challenge, code.expose_secret())
                .await
                .map(|_| ())
        },
    );
    all_or_nothing!(
        &kit,
        "disable_two_factor",
        async {
            let (person, sealed) = kit.person_with_2fa().await;
            let id = person.id;
            ((person, sealed), vec![id], vec![])
        },
        |(person, sealed)| async {
            let code = kit
                .totp
                .code_at(person.id, sealed, kit.clock.now())
                .unwrap();
            kit.accounts
                .disable_two_factor(&person.session, secret(PASSWORD), code.expose_secret())
                .await
        },
    );
}

/// Past a spent pool: the sign-in that issues the mailed code (its token, the cleared
/// counter; the mail only once committed), and the completion with the code (the token's use
/// and the session).
pub async fn mailed_code_steps_are_all_or_nothing(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    all_or_nothing!(
        &kit,
        "sign_in past a spent pool",
        async {
            let (id, email) = kit.signed_up().await;
            kit.spend_the_pool(&email).await;
            (email, vec![id], vec![])
        },
        |email| async {
            match kit
                .accounts
                .sign_in(email, secret(PASSWORD), client())
                .await?
            {
                SignIn::MailedCodeRequired(_) => Ok(()),
                other => panic!("the pool is spent: {other:?}"),
            }
        },
    );
    all_or_nothing!(
        &kit,
        "complete_mailed_code",
        async {
            let (id, email) = kit.signed_up().await;
            kit.spend_the_pool(&email).await;
            let challenge = match kit
                .accounts
                .sign_in(&email, secret(PASSWORD), client())
                .await
                .unwrap()
            {
                SignIn::MailedCodeRequired(c) => c,
                other => panic!("the pool is spent: {other:?}"),
            };
            let code = kit.mailed_code(&email).await;
            ((challenge, code), vec![id], vec![])
        },
        |(challenge, code)| async {
            kit.accounts
                .complete_mailed_code(challenge, code.expose_secret())
                .await
                .map(|_| ())
        },
    );
}

/// Access steps that touch several rows: creating a workspace (it and its owner), accepting
/// an invitation (the membership and the used invitation), a role change, removing a member
/// (membership, group memberships, direct grants) and deleting a group (it, its members and
/// its grants).
pub async fn access_steps_are_all_or_nothing(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    let submit = "submit".parse().unwrap();
    let viewer = "viewer".parse().unwrap();
    all_or_nothing!(
        &kit,
        "create_workspace",
        async {
            let person = kit.person().await;
            let actor = kit.actor(&person).await;
            (actor, vec![person.id], vec![])
        },
        |actor| async { kit.access.create_workspace(actor, "Acme").await.map(|_| ()) },
    );
    all_or_nothing!(
        &kit,
        "accept_invitation",
        async {
            let (workspace, owner, owner_actor) = kit.workspace().await;
            let invitee = kit.person().await;
            let invited = kit
                .access
                .invite(
                    &owner_actor,
                    workspace,
                    &invitee.email,
                    WorkspaceRole::Member,
                )
                .await
                .unwrap();
            let actor = kit.actor(&invitee).await;
            let users = vec![owner.id, invitee.id];
            (
                (actor, invited.token, invitee.email),
                users,
                vec![workspace],
            )
        },
        |(actor, token, email)| async {
            kit.access
                .accept_invitation(actor, token.expose_secret(), email)
                .await
                .map(|_| ())
        },
    );
    all_or_nothing!(
        &kit,
        "change_role",
        async {
            let (workspace, owner, owner_actor) = kit.workspace().await;
            let (member, _) = kit
                .member(workspace, &owner_actor, WorkspaceRole::Member)
                .await;
            let users = vec![owner.id, member.id];
            ((owner_actor, workspace, member.id), users, vec![workspace])
        },
        |(owner, workspace, member)| async {
            kit.access
                .change_role(owner, *workspace, *member, WorkspaceRole::Admin)
                .await
                .map(|_| ())
        },
    );
    all_or_nothing!(
        &kit,
        "remove_member",
        async {
            let (workspace, owner, owner_actor) = kit.workspace().await;
            let (member, _) = kit
                .member(workspace, &owner_actor, WorkspaceRole::Member)
                .await;
            let group = kit
                .access
                .create_group(&owner_actor, workspace, "Ops")
                .await
                .unwrap();
            kit.access
                .add_to_group(&owner_actor, workspace, group.id, member.id)
                .await
                .unwrap();
            kit.access
                .grant(
                    &owner_actor,
                    workspace,
                    Grantee::User(member.id),
                    &submit,
                    &viewer,
                )
                .await
                .unwrap();
            let users = vec![owner.id, member.id];
            ((owner_actor, workspace, member.id), users, vec![workspace])
        },
        |(owner, workspace, member)| async {
            kit.access
                .remove_member(owner, *workspace, *member)
                .await
                .map(|_| ())
        },
    );
    all_or_nothing!(
        &kit,
        "delete_group",
        async {
            let (workspace, owner, owner_actor) = kit.workspace().await;
            let (member, _) = kit
                .member(workspace, &owner_actor, WorkspaceRole::Member)
                .await;
            let group = kit
                .access
                .create_group(&owner_actor, workspace, "Ops")
                .await
                .unwrap();
            kit.access
                .add_to_group(&owner_actor, workspace, group.id, member.id)
                .await
                .unwrap();
            kit.access
                .grant(
                    &owner_actor,
                    workspace,
                    Grantee::Group(group.id),
                    &submit,
                    &viewer,
                )
                .await
                .unwrap();
            let users = vec![owner.id, member.id];
            ((owner_actor, workspace, group.id), users, vec![workspace])
        },
        |(owner, workspace, group)| async {
            kit.access
                .delete_group(owner, *workspace, *group)
                .await
                .map(|_| ())
        },
    );
}
