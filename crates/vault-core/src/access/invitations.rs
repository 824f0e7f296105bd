//! Invitations into a workspace by email, with a role: a single-use token of 256 random
//! bits (stored only as its SHA-256), an expiry, acceptance only by the account whose
//! verified email was invited, and revocation.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use rand::rngs::SysRng;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::Error;
use crate::access::{AccessControl, AccessDefect, Actor, InvitationId, Member, WorkspaceRole};
use crate::ids::{UserId, WorkspaceId};
use crate::store::Scope;

/// An invitation as stored: never the token, only its hash.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Invitation {
    /// Its id (also the first part of the token).
    pub id: InvitationId,
    /// The workspace invited into.
    pub workspace_id: WorkspaceId,
    /// The invited address, trimmed and lowercased.
    pub email: String,
    /// The role the invitee gets.
    pub role: WorkspaceRole,
    /// Who invited.
    pub invited_by: UserId,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops being usable.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// SHA-256 of the whole token.
    #[serde(skip)]
    pub token_hash: [u8; 32],
    /// When it was accepted, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<OffsetDateTime>,
    /// Who accepted it, if anyone.
    pub accepted_by: Option<UserId>,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// The state of an invitation at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// It can be accepted.
    Pending,
    /// It was accepted (invitations are single use).
    Accepted,
    /// It was revoked.
    Revoked,
    /// Its expiry has passed.
    Expired,
}

impl Invitation {
    /// The state of the invitation at `now`.
    pub fn status(&self, now: OffsetDateTime) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }

    /// `Ok` while pending; otherwise the refusal that names why not.
    pub fn ensure_pending(&self, now: OffsetDateTime) -> Result<(), AccessDefect> {
        match self.status(now) {
            InvitationStatus::Pending => Ok(()),
            InvitationStatus::Accepted => Err(AccessDefect::InvitationUsed),
            InvitationStatus::Revoked => Err(AccessDefect::InvitationRevoked),
            InvitationStatus::Expired => Err(AccessDefect::InvitationExpired),
        }
    }
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("invited_by", &self.invited_by)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("accepted_at", &self.accepted_at)
            .field("accepted_by", &self.accepted_by)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// The secret an invitee presents to accept: `vinv_`, the invitation id (32 hex digits) and
/// 256 random bits (43 base64url characters). `Debug` prints `[redacted]`.
pub struct InvitationToken(SecretString);

impl InvitationToken {
    /// The token, to put into the invitation link. Do not log it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken([redacted])")
    }
}

/// An invitation just created, with its token: shown once, to be mailed to the invitee.
#[derive(Debug)]
pub struct IssuedInvitation {
    /// The stored invitation.
    pub invitation: Invitation,
    /// The token for the invitation link.
    pub token: InvitationToken,
}

const TOKEN_PREFIX: &str = "vinv_";
const ID_CHARS: usize = 32;
const SECRET_BYTES: usize = 32;
const SECRET_CHARS: usize = 43;

fn generate_token(id: InvitationId) -> Result<(InvitationToken, [u8; 32]), Error> {
    let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
    SysRng
        .try_fill_bytes(&mut *secret)
        .map_err(|_| Error::Randomness)?;
    let encoded = Zeroizing::new(URL_SAFE_NO_PAD.encode(*secret));
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + ID_CHARS + SECRET_CHARS);
    token.push_str(TOKEN_PREFIX);
    token.push_str(
        id.as_uuid()
            .simple()
            .encode_lower(&mut Uuid::encode_buffer()),
    );
    token.push_str(&encoded);
    let hash = hash_token(&token);
    Ok((InvitationToken(SecretString::from(token)), hash))
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The invitation id inside a well-formed token.
fn parse_token(token: &str) -> Option<InvitationId> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    if rest.len() != ID_CHARS + SECRET_CHARS || !rest.is_ascii() {
        return None;
    }
    let (id, secret) = rest.split_at(ID_CHARS);
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let secret_ok = secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(id_ok && secret_ok) {
        return None;
    }
    Uuid::try_parse(id).ok().map(InvitationId::from_uuid)
}

/// Trims and lowercases an email address after a plausibility check (the accounts code
/// verifies addresses; this only keeps garbage out of invitations).
pub(super) fn normalize_email(email: &str) -> Result<String, Error> {
    let email = email.trim();
    let plausible = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !plausible {
        return Err(AccessDefect::InvalidEmail.into());
    }
    Ok(email.to_lowercase())
}

impl AccessControl {
    /// Invites `email` into a workspace with `role` (owners and admins; never above the
    /// inviter's own role). The token in the answer is shown once: mail it to the invitee.
    /// Audited as `access.member.invited`.
    pub async fn invite(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        email: &str,
        role: WorkspaceRole,
    ) -> Result<IssuedInvitation, Error> {
        let email = normalize_email(email)?;
        let mut tx = self.begin_in(workspace).await?;
        let (_, acting) = self
            .require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        if role > acting.role {
            return Err(AccessDefect::NotAllowed.into());
        }
        let id = InvitationId::random();
        let (token, token_hash) = generate_token(id)?;
        let now = self.now();
        let invitation = Invitation {
            id,
            workspace_id: workspace,
            email,
            role,
            invited_by: actor.user_id(),
            created_at: now,
            expires_at: now + self.invitation_ttl(),
            token_hash,
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        };
        tx.put_invitation(&invitation).await?;
        tx.commit().await?;
        self.record(
            self.event("access.member.invited", actor, workspace)
                .subject(id)
                .detail("email", &invitation.email)
                .detail("role", role)
                .detail("expires_at", invitation.expires_at),
        )
        .await;
        Ok(IssuedInvitation { invitation, token })
    }

    /// The invitations of a workspace, pending or not (owners and admins).
    pub async fn invitations(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
    ) -> Result<Vec<Invitation>, Error> {
        let mut tx = self.read().await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        let mut invitations = tx.invitations(workspace).await?;
        invitations.sort_by_key(|i| (i.created_at, i.id));
        Ok(invitations)
    }

    /// Revokes a pending invitation (owners and admins). Audited as
    /// `access.invitation.revoked`.
    pub async fn revoke_invitation(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        id: InvitationId,
    ) -> Result<Invitation, Error> {
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        let mut revoked = tx
            .invitation(id)
            .await?
            .filter(|i| i.workspace_id == workspace)
            .ok_or(AccessDefect::InvitationUnknown)?;
        let now = self.now();
        revoked.ensure_pending(now)?;
        revoked.revoked_at = Some(now);
        tx.put_invitation(&revoked).await?;
        tx.commit().await?;
        self.record(
            self.event("access.invitation.revoked", actor, workspace)
                .subject(id)
                .detail("email", &revoked.email),
        )
        .await;
        Ok(revoked)
    }

    /// Accepts an invitation with its token, for the actor's account. `verified_email` is the
    /// actor's verified address as the accounts code knows it: it must be the invited one.
    /// The invitation is then used up. Audited as `access.member.joined`.
    ///
    /// Refusals: [`AccessDefect::InvitationUnknown`] (malformed or wrong token),
    /// [`AccessDefect::InvitationUsed`], [`AccessDefect::InvitationRevoked`],
    /// [`AccessDefect::InvitationExpired`], [`AccessDefect::InvitationForAnotherAccount`],
    /// [`AccessDefect::AlreadyMember`].
    pub async fn accept_invitation(
        &self,
        actor: &Actor,
        token: &str,
        verified_email: &str,
    ) -> Result<Member, Error> {
        let id = parse_token(token).ok_or(AccessDefect::InvitationUnknown)?;
        let invitation = self
            .read()
            .await?
            .invitation(id)
            .await?
            .ok_or(AccessDefect::InvitationUnknown)?;
        let presented = hash_token(token);
        if !bool::from(presented.ct_eq(&invitation.token_hash)) {
            return Err(AccessDefect::InvitationUnknown.into());
        }
        let now = self.now();
        invitation.ensure_pending(now)?;
        if normalize_email(verified_email)? != invitation.email {
            return Err(AccessDefect::InvitationForAnotherAccount.into());
        }
        // Checked again inside the workspace's transaction: two accepts of one token cannot
        // both win.
        let workspace = invitation.workspace_id;
        let mut tx = self
            .begin(Scope::user(actor.user_id()).and_workspace(workspace))
            .await?;
        let mut invitation = tx
            .invitation(id)
            .await?
            .ok_or(AccessDefect::InvitationUnknown)?;
        invitation.ensure_pending(now)?;
        if tx.workspace(workspace).await?.is_none() {
            return Err(AccessDefect::InvitationUnknown.into());
        }
        if tx.member(workspace, actor.user_id()).await?.is_some() {
            return Err(AccessDefect::AlreadyMember.into());
        }
        let member = Member {
            workspace_id: workspace,
            user_id: actor.user_id(),
            role: invitation.role,
            joined_at: now,
        };
        tx.put_member(&member).await?;
        invitation.accepted_at = Some(now);
        invitation.accepted_by = Some(actor.user_id());
        tx.put_invitation(&invitation).await?;
        tx.commit().await?;
        self.record(
            self.event("access.member.joined", actor, invitation.workspace_id)
                .subject(actor.user_id())
                .detail("invitation", id)
                .detail("role", member.role),
        )
        .await;
        Ok(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_id_and_256_random_bits() {
        let id = InvitationId::random();
        let (token, hash) = generate_token(id).unwrap();
        let text = token.expose_secret();
        assert_eq!(text.len(), TOKEN_PREFIX.len() + ID_CHARS + SECRET_CHARS);
        assert_eq!(parse_token(text), Some(id));
        assert_eq!(hash_token(text), hash);
        assert_eq!(format!("{token:?}"), "InvitationToken([redacted])");
        let (other, _) = generate_token(id).unwrap();
        assert_ne!(other.expose_secret(), text);
    }

    #[test]
    fn malformed_tokens_name_no_invitation() {
        let (token, _) = generate_token(InvitationId::random()).unwrap();
        let text = token.expose_secret();
        for bad in [
            "",
            "vinv_",
            &text[..text.len() - 1],
            &format!("{text}x"),
            &text.replacen("vinv_", "vkey_", 1),
            &text.to_uppercase(),
        ] {
            assert_eq!(parse_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            normalize_email(" Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "a@b@c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
