//! `OneTimeTokenRepository`: issuing a link (its token and its email in one step),
//! the per-purpose cooldown, retiring earlier links, and finding tokens by digest.

use chrono::Duration;
use domain::ports::{AccountRepository, OneTimeTokenRepository};
use domain::{AuditKind, OneTimeTokenRecord, RepositoryError, TokenPurpose, UserId};

use super::{Harness, Mail, activation_link, at, digest, event, reset_link, t0, trail, user};

contract!(
    an_issued_token_is_stored_and_its_email_queued,
    no_token_is_issued_to_a_missing_user,
    within_the_cooldown_nothing_is_issued_and_the_earlier_link_keeps_working,
    the_cooldown_counts_a_used_token_too,
    the_cooldown_is_per_purpose,
    issuing_retires_the_users_earlier_unused_tokens_of_that_purpose_only,
    a_token_is_found_by_its_digest_used_or_not_expired_or_not,
    a_digest_already_stored_is_an_error_and_changes_nothing,
);

fn minute() -> Duration {
    Duration::seconds(60)
}

async fn an_issued_token_is_stored_and_its_email_queued<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;

    let issued = h
        .one_time_tokens()
        .issue(alice.id, reset_link("reset-1", at(5)), minute())
        .await
        .unwrap();

    assert!(issued);
    let stored = h
        .one_time_tokens()
        .find(&digest("reset-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        OneTimeTokenRecord {
            id: stored.id,
            user_id: alice.id,
            purpose: TokenPurpose::Reset,
            created_at: at(5),
            expires_at: at(3605),
            used_at: None,
        }
    );
    assert_eq!(h.one_time_tokens_of(alice.id).await, [stored]);
    assert_eq!(
        h.mails_to(&alice).await,
        [Mail {
            kind: "password_reset",
            token: Some("reset-1".to_owned())
        }]
    );
    assert_eq!(trail(&h).await.len(), 1, "an issue records nothing");
}

async fn no_token_is_issued_to_a_missing_user<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;

    let issued = h
        .one_time_tokens()
        .issue(
            UserId(alice.id.0 + 100),
            reset_link("reset-1", t0()),
            minute(),
        )
        .await
        .unwrap();

    assert!(!issued);
    assert_eq!(
        h.one_time_tokens().find(&digest("reset-1")).await.unwrap(),
        None
    );
    assert_eq!(h.mails_to(&alice).await, []);
}

async fn within_the_cooldown_nothing_is_issued_and_the_earlier_link_keeps_working<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let tokens = h.one_time_tokens();
    tokens
        .issue(alice.id, reset_link("first", at(0)), minute())
        .await
        .unwrap();

    let too_soon = tokens
        .issue(alice.id, reset_link("second", at(59)), minute())
        .await
        .unwrap();

    assert!(!too_soon);
    assert_eq!(tokens.find(&digest("second")).await.unwrap(), None);
    assert_eq!(
        tokens
            .find(&digest("first"))
            .await
            .unwrap()
            .unwrap()
            .used_at,
        None
    );
    assert_eq!(h.mails_to(&alice).await.len(), 1);

    let after = tokens
        .issue(alice.id, reset_link("third", at(60)), minute())
        .await
        .unwrap();

    assert!(after, "a cooldown later, a new link goes out");
    assert_eq!(
        tokens
            .find(&digest("first"))
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at(60))
    );
    assert_eq!(h.mails_to(&alice).await.len(), 2);
}

async fn the_cooldown_counts_a_used_token_too<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let tokens = h.one_time_tokens();
    tokens
        .issue(alice.id, reset_link("first", at(0)), minute())
        .await
        .unwrap();
    let first = tokens.find(&digest("first")).await.unwrap().unwrap();
    let reset = domain::ports::PasswordChange {
        user_id: alice.id,
        password_hash: "bcrypt_sha256$reset".to_owned(),
        at: at(10),
        revoke: domain::ports::SessionRevocation::All,
        consume_token: Some(first.id),
        replaces_hash: None,
        email: None,
        audit: event(AuditKind::PasswordReset),
    };
    assert!(h.accounts().set_password(reset).await.unwrap());

    let too_soon = tokens
        .issue(alice.id, reset_link("second", at(30)), minute())
        .await
        .unwrap();

    assert!(!too_soon);
    assert_eq!(tokens.find(&digest("second")).await.unwrap(), None);
}

async fn the_cooldown_is_per_purpose<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let tokens = h.one_time_tokens();
    tokens
        .issue(alice.id, reset_link("reset", at(0)), minute())
        .await
        .unwrap();

    let activation = tokens
        .issue(alice.id, activation_link("activation", at(1)), minute())
        .await
        .unwrap();

    assert!(activation);
    let kinds: Vec<&str> = h.mails_to(&alice).await.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, ["password_reset", "activation"]);
    assert_eq!(
        tokens
            .find(&digest("reset"))
            .await
            .unwrap()
            .unwrap()
            .used_at,
        None
    );
}

async fn issuing_retires_the_users_earlier_unused_tokens_of_that_purpose_only<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let tokens = h.one_time_tokens();
    tokens
        .issue(alice.id, reset_link("alice-1", at(0)), Duration::zero())
        .await
        .unwrap();
    tokens
        .issue(alice.id, reset_link("alice-2", at(1)), Duration::zero())
        .await
        .unwrap();
    tokens
        .issue(
            alice.id,
            activation_link("alice-act", at(2)),
            Duration::zero(),
        )
        .await
        .unwrap();
    tokens
        .issue(bob.id, reset_link("bob-1", at(3)), Duration::zero())
        .await
        .unwrap();

    tokens
        .issue(alice.id, reset_link("alice-3", at(4)), Duration::zero())
        .await
        .unwrap();

    let used_at = |raw: &'static str| {
        let tokens = tokens.clone();
        async move { tokens.find(&digest(raw)).await.unwrap().unwrap().used_at }
    };
    assert_eq!(
        used_at("alice-1").await,
        Some(at(1)),
        "retired by the second link"
    );
    assert_eq!(
        used_at("alice-2").await,
        Some(at(4)),
        "retired by the third"
    );
    assert_eq!(used_at("alice-3").await, None);
    assert_eq!(used_at("alice-act").await, None, "another purpose");
    assert_eq!(used_at("bob-1").await, None, "another user");
    let purposes: Vec<TokenPurpose> = h
        .one_time_tokens_of(alice.id)
        .await
        .iter()
        .map(|t| t.purpose)
        .collect();
    assert_eq!(
        purposes,
        [
            TokenPurpose::Reset,
            TokenPurpose::Reset,
            TokenPurpose::Activation,
            TokenPurpose::Reset
        ]
    );
}

async fn a_token_is_found_by_its_digest_used_or_not_expired_or_not<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let tokens = h.one_time_tokens();
    tokens
        .issue(alice.id, reset_link("old", at(-7200)), minute())
        .await
        .unwrap();
    tokens
        .issue(alice.id, reset_link("new", at(0)), minute())
        .await
        .unwrap();

    let old = tokens
        .find(&digest("old"))
        .await
        .unwrap()
        .expect("an expired, used token");
    let new = tokens
        .find(&digest("new"))
        .await
        .unwrap()
        .expect("a live token");

    assert_eq!((old.expires_at, old.used_at), (at(-3600), Some(at(0))));
    assert_eq!((new.expires_at, new.used_at), (at(3600), None));
    assert_eq!(tokens.find(&digest("never")).await.unwrap(), None);
}

async fn a_digest_already_stored_is_an_error_and_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let tokens = h.one_time_tokens();
    tokens
        .issue(alice.id, reset_link("alices", at(0)), minute())
        .await
        .unwrap();
    tokens
        .issue(bob.id, reset_link("bobs", at(0)), minute())
        .await
        .unwrap();
    let before = (
        h.one_time_tokens_of(alice.id).await,
        h.one_time_tokens_of(bob.id).await,
    );

    let issued = tokens
        .issue(bob.id, reset_link("alices", at(60)), minute())
        .await;

    assert!(
        matches!(issued, Err(RepositoryError::Unexpected(_))),
        "{issued:?}"
    );
    assert_eq!(
        (
            h.one_time_tokens_of(alice.id).await,
            h.one_time_tokens_of(bob.id).await
        ),
        before,
        "bob's earlier link is not retired either"
    );
    assert_eq!(h.mails_to(&bob).await.len(), 1);
}
