//! `AccountRepository`: activation by link and password changes by every route, each
//! one transaction with its email and audit event, or nothing at all.

use chrono::Duration;
use domain::admin::UserPatch;
use domain::authorization::Authority;
use domain::ports::{
    AccountRepository, OneTimeTokenRepository, PasswordChange, SessionRevocation,
    UserAdminRepository,
};
use domain::{AuditEvent, AuditKind, EmailKind, User, UserId};

use super::{
    HASH, Harness, Mail, OTHER_HASH, activation_link, add_key, at, digest, event, first_token,
    key_owner, pending_user, reload, reset_link, start, t0, trail, user,
};

contract!(
    activation_activates_the_pending_user_consumes_the_token_and_mails_him,
    an_account_that_is_not_pending_is_not_activated,
    a_consumed_or_expired_activation_token_activates_nothing,
    a_missing_user_is_not_activated,
    a_password_change_replaces_the_hash_and_ends_his_keys_and_reset_links,
    a_password_change_revokes_no_session_all_but_one_or_all_as_asked,
    a_password_change_without_an_email_queues_none,
    a_password_change_consuming_a_used_or_expired_token_changes_nothing,
    a_password_change_over_a_hash_changed_meanwhile_changes_nothing,
    a_password_change_for_a_missing_user_changes_nothing,
);

fn activated(user: UserId) -> AuditEvent {
    event(AuditKind::AccountActivated).by_self(user)
}

fn password_change(user: UserId) -> PasswordChange {
    PasswordChange {
        user_id: user,
        password_hash: "bcrypt_sha256$new".to_owned(),
        at: at(100),
        revoke: SessionRevocation::All,
        consume_token: None,
        replaces_hash: None,
        email: Some(EmailKind::PasswordChanged),
        audit: event(AuditKind::PasswordChanged).by_self(user),
    }
}

/// The id of the stored token `raw`.
async fn token_id<H: Harness>(h: &H, raw: &str) -> i64 {
    h.one_time_tokens()
        .find(&digest(raw))
        .await
        .unwrap()
        .expect("the token is stored")
        .id
}

/// Everything a refused change must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    user: User,
    mails: Vec<Mail>,
    trail: Vec<AuditEvent>,
    tokens: Vec<domain::OneTimeTokenRecord>,
    live: std::collections::BTreeSet<uuid::Uuid>,
}

async fn snapshot<H: Harness>(h: &H, id: UserId) -> Snapshot {
    let user = reload(h, id).await;
    Snapshot {
        mails: h.mails_to(&user).await,
        trail: trail(h).await,
        tokens: h.one_time_tokens_of(id).await,
        live: h.live_refresh_tokens_of(id).await,
        user,
    }
}

async fn activation_activates_the_pending_user_consumes_the_token_and_mails_him<H: Harness>() {
    let h = H::start().await;
    let alice = pending_user(&h, "alice", activation_link("act", t0())).await;
    let token = token_id(&h, "act").await;

    let done = h
        .accounts()
        .activate(
            token,
            alice.id,
            at(10),
            EmailKind::ActivationConfirmed,
            activated(alice.id),
        )
        .await
        .unwrap();

    assert!(done);
    let active = reload(&h, alice.id).await;
    assert!(active.is_active && !active.pending_activation);
    assert_eq!(
        h.one_time_tokens()
            .find(&digest("act"))
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at(10))
    );
    assert_eq!(
        h.mails_to(&alice).await,
        [
            Mail {
                kind: "activation",
                token: Some("act".to_owned())
            },
            Mail {
                kind: "activation_confirmed",
                token: None
            },
        ]
    );
    assert_eq!(trail(&h).await.last(), Some(&activated(alice.id)));
}

async fn an_account_that_is_not_pending_is_not_activated<H: Harness>() {
    let h = H::start().await;
    let active = user(&h, "alice").await;
    h.one_time_tokens()
        .issue(active.id, activation_link("alices", t0()), Duration::zero())
        .await
        .unwrap();
    let deactivated = pending_user(&h, "bob", activation_link("bobs", t0())).await;
    let bobs = token_id(&h, "bobs").await;
    h.user_admin()
        .update(
            deactivated.id,
            UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(1),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap();
    let before = (
        snapshot(&h, active.id).await,
        snapshot(&h, deactivated.id).await,
    );

    let alices = token_id(&h, "alices").await;
    let of_active = h
        .accounts()
        .activate(
            alices,
            active.id,
            at(10),
            EmailKind::ActivationConfirmed,
            activated(active.id),
        )
        .await
        .unwrap();
    let of_deactivated = h
        .accounts()
        .activate(
            bobs,
            deactivated.id,
            at(10),
            EmailKind::ActivationConfirmed,
            activated(deactivated.id),
        )
        .await
        .unwrap();

    assert!(!of_active && !of_deactivated);
    assert_eq!(
        (
            snapshot(&h, active.id).await,
            snapshot(&h, deactivated.id).await
        ),
        before
    );
    assert!(!reload(&h, deactivated.id).await.is_active);
}

async fn a_consumed_or_expired_activation_token_activates_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = pending_user(&h, "alice", activation_link("first", t0())).await;
    let first = token_id(&h, "first").await;
    h.one_time_tokens()
        .issue(
            alice.id,
            activation_link("second", at(10)),
            Duration::zero(),
        )
        .await
        .unwrap();
    let second = token_id(&h, "second").await;
    let before = snapshot(&h, alice.id).await;

    let retired = h
        .accounts()
        .activate(
            first,
            alice.id,
            at(20),
            EmailKind::ActivationConfirmed,
            activated(alice.id),
        )
        .await
        .unwrap();
    let expired = h
        .accounts()
        .activate(
            second,
            alice.id,
            at(3610),
            EmailKind::ActivationConfirmed,
            activated(alice.id),
        )
        .await
        .unwrap();

    assert!(!retired, "the first link was retired by the second");
    assert!(!expired, "the second expires an hour after it was issued");
    let after = snapshot(&h, alice.id).await;
    assert_eq!(after, before);
    assert!(after.user.pending_activation && !after.user.is_active);

    let in_time = h
        .accounts()
        .activate(
            second,
            alice.id,
            at(3609),
            EmailKind::ActivationConfirmed,
            activated(alice.id),
        )
        .await
        .unwrap();
    assert!(in_time);
}

async fn a_missing_user_is_not_activated<H: Harness>() {
    let h = H::start().await;
    let alice = pending_user(&h, "alice", activation_link("act", t0())).await;
    let token = token_id(&h, "act").await;
    let before = snapshot(&h, alice.id).await;

    let done = h
        .accounts()
        .activate(
            token,
            UserId(alice.id.0 + 100),
            at(10),
            EmailKind::ActivationConfirmed,
            activated(alice.id),
        )
        .await
        .unwrap();

    assert!(!done);
    assert_eq!(snapshot(&h, alice.id).await, before);
}

async fn a_password_change_replaces_the_hash_and_ends_his_keys_and_reset_links<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let tokens = h.one_time_tokens();
    tokens
        .issue(
            alice.id,
            activation_link("activation", t0()),
            Duration::zero(),
        )
        .await
        .unwrap();
    tokens
        .issue(alice.id, reset_link("used-reset", t0()), Duration::zero())
        .await
        .unwrap();
    tokens
        .issue(alice.id, reset_link("other-reset", at(1)), Duration::zero())
        .await
        .unwrap();
    tokens
        .issue(bob.id, reset_link("bobs-reset", t0()), Duration::zero())
        .await
        .unwrap();
    add_key(&h, alice.id, b"alices-key").await;
    add_key(&h, bob.id, b"bobs-key").await;
    let used = token_id(&h, "other-reset").await;

    let changed = h
        .accounts()
        .set_password(PasswordChange {
            consume_token: Some(used),
            replaces_hash: Some(HASH.to_owned()),
            ..password_change(alice.id)
        })
        .await
        .unwrap();

    assert!(changed);
    let stored = reload(&h, alice.id).await;
    assert_eq!(stored.password_hash, "bcrypt_sha256$new");
    assert_eq!(stored.password_changed_at, at(100));
    assert_eq!(key_owner(&h, b"alices-key").await, None);
    assert_eq!(key_owner(&h, b"bobs-key").await, Some(bob.id));
    let used_at = |raw: &'static str| {
        let tokens = tokens.clone();
        async move { tokens.find(&digest(raw)).await.unwrap().unwrap().used_at }
    };
    assert_eq!(used_at("other-reset").await, Some(at(100)), "consumed");
    assert_eq!(
        used_at("used-reset").await,
        Some(at(1)),
        "retired by the later link"
    );
    assert_eq!(used_at("activation").await, None, "another purpose");
    assert_eq!(used_at("bobs-reset").await, None, "another user");
    assert_eq!(
        h.mails_to(&alice).await.last(),
        Some(&Mail {
            kind: "password_changed",
            token: None
        })
    );
    assert_eq!(
        trail(&h).await.last(),
        Some(&event(AuditKind::PasswordChanged).by_self(alice.id))
    );

    let unchecked = h
        .accounts()
        .set_password(PasswordChange {
            password_hash: "bcrypt_sha256$admin-set".to_owned(),
            ..password_change(alice.id)
        })
        .await
        .unwrap();
    assert!(unchecked, "without a token or a hash to check");
    assert_eq!(
        reload(&h, alice.id).await.password_hash,
        "bcrypt_sha256$admin-set"
    );
}

/// Starts two sessions for a new user `name`, changes his password revoking as
/// `revoke` says given the first session, and tells which of the two live on.
async fn sessions_left<H: Harness>(
    h: &H,
    name: &str,
    revoke: impl FnOnce(uuid::Uuid) -> SessionRevocation,
) -> (bool, bool) {
    let someone = user(h, name).await;
    let (kept, other) = (first_token(someone.id, t0()), first_token(someone.id, t0()));
    start(h, &kept).await;
    start(h, &other).await;

    let changed = h
        .accounts()
        .set_password(PasswordChange {
            revoke: revoke(kept.family_id),
            ..password_change(someone.id)
        })
        .await
        .unwrap();

    assert!(changed);
    let live = h.live_refresh_tokens_of(someone.id).await;
    (live.contains(&kept.jti), live.contains(&other.jti))
}

async fn a_password_change_revokes_no_session_all_but_one_or_all_as_asked<H: Harness>() {
    let h = H::start().await;

    let none = sessions_left(&h, "none", |_| SessionRevocation::None).await;
    let all_but = sessions_left(&h, "allbut", SessionRevocation::AllBut).await;
    let all = sessions_left(&h, "all", |_| SessionRevocation::All).await;

    assert_eq!(none, (true, true));
    assert_eq!(all_but, (true, false));
    assert_eq!(all, (false, false));
}

async fn a_password_change_without_an_email_queues_none<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;

    let changed = h
        .accounts()
        .set_password(PasswordChange {
            email: None,
            ..password_change(alice.id)
        })
        .await
        .unwrap();

    assert!(changed);
    assert_eq!(h.mails_to(&alice).await, []);
    assert_eq!(
        trail(&h).await.last(),
        Some(&event(AuditKind::PasswordChanged).by_self(alice.id))
    );
}

async fn a_password_change_consuming_a_used_or_expired_token_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    h.one_time_tokens()
        .issue(alice.id, reset_link("reset", t0()), Duration::zero())
        .await
        .unwrap();
    let reset = token_id(&h, "reset").await;
    let with_reset = |at| PasswordChange {
        at,
        consume_token: Some(reset),
        ..password_change(alice.id)
    };
    let expired = h
        .accounts()
        .set_password(with_reset(at(3600)))
        .await
        .unwrap();
    assert!(!expired, "the link expired an hour after it was issued");
    assert!(
        h.accounts()
            .set_password(with_reset(at(3599)))
            .await
            .unwrap()
    );
    let session = first_token(alice.id, at(3599));
    start(&h, &session).await;
    add_key(&h, alice.id, b"new-key").await;
    h.one_time_tokens()
        .issue(alice.id, reset_link("later", at(3599)), Duration::zero())
        .await
        .unwrap();
    let before = snapshot(&h, alice.id).await;

    let used = h
        .accounts()
        .set_password(PasswordChange {
            password_hash: "bcrypt_sha256$replayed".to_owned(),
            ..with_reset(at(3599))
        })
        .await
        .unwrap();

    assert!(!used, "the link was used");
    assert_eq!(snapshot(&h, alice.id).await, before);
    assert_eq!(key_owner(&h, b"new-key").await, Some(alice.id));
}

async fn a_password_change_over_a_hash_changed_meanwhile_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    start(&h, &first_token(alice.id, t0())).await;
    add_key(&h, alice.id, b"key").await;
    h.one_time_tokens()
        .issue(alice.id, reset_link("reset", t0()), Duration::zero())
        .await
        .unwrap();
    let reset = token_id(&h, "reset").await;
    let before = snapshot(&h, alice.id).await;

    let changed = h
        .accounts()
        .set_password(PasswordChange {
            replaces_hash: Some(OTHER_HASH.to_owned()),
            consume_token: Some(reset),
            ..password_change(alice.id)
        })
        .await
        .unwrap();

    assert!(!changed);
    assert_eq!(
        snapshot(&h, alice.id).await,
        before,
        "the token is still unused too"
    );
    assert_eq!(key_owner(&h, b"key").await, Some(alice.id));
}

async fn a_password_change_for_a_missing_user_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    h.one_time_tokens()
        .issue(alice.id, reset_link("reset", t0()), Duration::zero())
        .await
        .unwrap();
    let reset = token_id(&h, "reset").await;
    let before = snapshot(&h, alice.id).await;

    let changed = h
        .accounts()
        .set_password(PasswordChange {
            consume_token: Some(reset),
            ..password_change(UserId(alice.id.0 + 100))
        })
        .await
        .unwrap();

    assert!(!changed);
    assert_eq!(snapshot(&h, alice.id).await, before);
}
