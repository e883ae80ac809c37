//! `SessionRepository`: starting a session, every outcome of a rotation, revocations
//! (one family, all of a user's, one from his list), the live list and the purge.

use chrono::Duration;
use domain::ports::{SessionRepository, UserRepository};
use domain::{
    AuditKind, NewRefreshToken, NewUser, RefreshTokenRecord, RepositoryError, RotateOutcome,
    SessionSummary,
};
use uuid::Uuid;

use super::{
    HASH, Harness, OTHER_HASH, add_key, at, create, event, first_token, key_owner, new_user, start,
    successor_of, t0, trail, trail_kinds, user,
};

contract!(
    a_started_session_reads_back_as_stored_with_its_audit,
    a_token_reads_back_with_its_users_profile,
    no_session_starts_for_a_missing_user_and_nothing_is_recorded,
    with_a_password_hash_a_session_starts_only_while_it_is_his_and_he_is_active,
    rotating_a_live_token_retires_it_for_its_successor,
    a_rotated_token_presented_within_the_interval_gives_its_live_successor_again,
    a_rotated_token_presented_after_the_interval_is_reuse_which_revokes_the_family,
    a_rotated_token_whose_successor_is_no_longer_live_is_reuse_within_the_interval,
    a_zero_interval_grants_no_grace_even_in_the_same_instant,
    a_token_revoked_without_successor_is_revoked_and_an_unknown_one_unknown,
    touching_a_token_marks_it_used,
    revoking_a_family_counts_its_live_tokens_and_records_only_when_one_was_live,
    revoking_all_of_a_users_sessions_keeps_the_one_asked_and_deletes_his_api_keys,
    live_sessions_are_listed_newest_login_first_ties_by_jti,
    revoked_and_expired_sessions_are_not_listed,
    a_session_of_another_user_is_not_revoked_from_ones_list,
    purging_deletes_the_tokens_expired_before_now_and_counts_them,
    a_session_whose_jti_is_taken_is_an_error_and_changes_nothing,
    a_successor_whose_jti_is_taken_is_an_error_and_the_token_stays_live,
    a_live_sessions_start_is_read_and_an_ended_ones_is_not,
    a_session_opened_from_another_starts_only_while_that_one_is_live,
    ending_a_session_by_any_route_ends_the_sessions_opened_from_it_at_any_depth,
);

/// What the store holds for a token just stored.
fn stored(token: &NewRefreshToken) -> RefreshTokenRecord {
    RefreshTokenRecord {
        jti: token.jti,
        user_id: token.user_id,
        family_id: token.family_id,
        parent_jti: token.parent_jti,
        created_at: token.created_at,
        expires_at: token.expires_at,
        session_started_at: token.session_started_at,
        revoked_at: None,
        replaced_by: None,
        last_used_at: None,
        user_agent: token.user_agent.clone(),
        ip: token.ip.clone(),
        parent_session: token.parent_session,
        from_simplejwt: false,
    }
}

fn reuse() -> domain::AuditEvent {
    event(AuditKind::RefreshTokenReused)
}

async fn a_started_session_reads_back_as_stored_with_its_audit<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let token = first_token(alice.id, at(5));
    let login = event(AuditKind::LoginSucceeded).by_self(alice.id);

    let started = h
        .sessions()
        .start(token.clone(), Some(HASH.to_owned()), Some(login.clone()))
        .await
        .unwrap();

    assert!(started);
    assert_eq!(
        h.sessions().find(token.jti).await.unwrap(),
        Some(stored(&token))
    );
    assert_eq!(trail(&h).await.last(), Some(&login));
    assert_eq!(h.sessions().find(Uuid::new_v4()).await.unwrap(), None);
}

async fn a_token_reads_back_with_its_users_profile<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let token = first_token(bob.id, at(5));
    start(&h, &token).await;

    let (record, profile) = h
        .sessions()
        .find_with_profile(token.jti)
        .await
        .unwrap()
        .expect("the token and its user");

    assert_eq!(record, stored(&token));
    assert_eq!(Some(profile), h.users().profile(bob.id).await.unwrap());
    assert_ne!(alice.id, bob.id);
    assert_eq!(
        h.sessions()
            .find_with_profile(Uuid::new_v4())
            .await
            .unwrap(),
        None
    );
}

async fn no_session_starts_for_a_missing_user_and_nothing_is_recorded<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let token = first_token(domain::UserId(alice.id.0 + 100), t0());

    let started = h
        .sessions()
        .start(token.clone(), None, Some(event(AuditKind::LoginSucceeded)))
        .await
        .unwrap();

    assert!(!started);
    assert_eq!(h.sessions().find(token.jti).await.unwrap(), None);
    assert_eq!(trail_kinds(&h).await, [AuditKind::AccountRegistered]);
}

async fn with_a_password_hash_a_session_starts_only_while_it_is_his_and_he_is_active<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let inactive = create(
        &h,
        NewUser {
            is_active: false,
            ..new_user("ivan", "ivan@example.com")
        },
    )
    .await;
    let sessions = h.sessions();
    let login = || Some(event(AuditKind::LoginSucceeded));

    let stale = first_token(alice.id, t0());
    assert!(
        !sessions
            .start(stale.clone(), Some(OTHER_HASH.to_owned()), login())
            .await
            .unwrap()
    );
    let refused = first_token(inactive.id, t0());
    assert!(
        !sessions
            .start(refused.clone(), Some(HASH.to_owned()), login())
            .await
            .unwrap()
    );
    assert_eq!(sessions.find(stale.jti).await.unwrap(), None);
    assert_eq!(sessions.find(refused.jti).await.unwrap(), None);
    assert_eq!(trail(&h).await.len(), 2, "the two registrations only");

    let unchecked = first_token(inactive.id, t0());
    assert!(
        sessions.start(unchecked.clone(), None, None).await.unwrap(),
        "without a hash to check, only his existence counts"
    );
    assert!(sessions.find(unchecked.jti).await.unwrap().is_some());
}

async fn rotating_a_live_token_retires_it_for_its_successor<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let first = first_token(alice.id, t0());
    start(&h, &first).await;
    let second = successor_of(&first, at(60));

    let outcome = h
        .sessions()
        .rotate(first.jti, second.clone(), Duration::seconds(10), reuse())
        .await
        .unwrap();

    assert_eq!(outcome, RotateOutcome::Rotated);
    let retired = h.sessions().find(first.jti).await.unwrap().unwrap();
    assert_eq!(
        retired,
        RefreshTokenRecord {
            revoked_at: Some(at(60)),
            replaced_by: Some(second.jti),
            last_used_at: Some(at(60)),
            ..stored(&first)
        }
    );
    assert_eq!(
        h.sessions().find(second.jti).await.unwrap(),
        Some(stored(&second))
    );
    assert_eq!(
        h.live_refresh_tokens_of(alice.id).await,
        [second.jti].into()
    );
    assert_eq!(trail(&h).await.len(), 1, "a rotation records nothing");
}

async fn a_rotated_token_presented_within_the_interval_gives_its_live_successor_again<
    H: Harness,
>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let first = first_token(alice.id, t0());
    start(&h, &first).await;
    let second = successor_of(&first, at(60));
    h.sessions()
        .rotate(first.jti, second.clone(), Duration::seconds(10), reuse())
        .await
        .unwrap();

    for presented_at in [at(60), at(65), at(70)] {
        let late = successor_of(&first, presented_at);
        let outcome = h
            .sessions()
            .rotate(first.jti, late.clone(), Duration::seconds(10), reuse())
            .await
            .unwrap();

        assert_eq!(
            outcome,
            RotateOutcome::AlreadyRotated(stored(&second)),
            "{presented_at}"
        );
        assert_eq!(
            h.sessions().find(late.jti).await.unwrap(),
            None,
            "no other successor"
        );
    }
    assert_eq!(
        h.live_refresh_tokens_of(alice.id).await,
        [second.jti].into()
    );
    assert_eq!(trail(&h).await.len(), 1, "no reuse recorded");
}

async fn a_rotated_token_presented_after_the_interval_is_reuse_which_revokes_the_family<
    H: Harness,
>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let first = first_token(alice.id, t0());
    let other = first_token(alice.id, t0());
    start(&h, &first).await;
    start(&h, &other).await;
    let second = successor_of(&first, at(60));
    h.sessions()
        .rotate(first.jti, second.clone(), Duration::seconds(10), reuse())
        .await
        .unwrap();
    let late = successor_of(&first, at(71));

    let outcome = h
        .sessions()
        .rotate(
            first.jti,
            late.clone(),
            Duration::seconds(10),
            reuse().subject(alice.id),
        )
        .await
        .unwrap();

    assert_eq!(outcome, RotateOutcome::Reused);
    let successor = h.sessions().find(second.jti).await.unwrap().unwrap();
    assert_eq!(successor.revoked_at, Some(at(71)), "the family is revoked");
    assert_eq!(successor.replaced_by, None);
    assert_eq!(h.sessions().find(late.jti).await.unwrap(), None);
    assert_eq!(
        h.live_refresh_tokens_of(alice.id).await,
        [other.jti].into(),
        "his other session lives on"
    );
    assert_eq!(trail(&h).await.last(), Some(&reuse().subject(alice.id)));
    assert_eq!(trail(&h).await.len(), 2);
}

async fn a_rotated_token_whose_successor_is_no_longer_live_is_reuse_within_the_interval<
    H: Harness,
>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let first = first_token(alice.id, t0());
    start(&h, &first).await;
    let second = successor_of(&first, at(1));
    let third = successor_of(&second, at(2));
    let sessions = h.sessions();
    sessions
        .rotate(first.jti, second.clone(), Duration::seconds(10), reuse())
        .await
        .unwrap();
    sessions
        .rotate(second.jti, third.clone(), Duration::seconds(10), reuse())
        .await
        .unwrap();

    let outcome = sessions
        .rotate(
            first.jti,
            successor_of(&first, at(3)),
            Duration::seconds(10),
            reuse(),
        )
        .await
        .unwrap();

    assert_eq!(outcome, RotateOutcome::Reused);
    assert_eq!(h.live_refresh_tokens_of(alice.id).await, [].into());
    assert_eq!(
        trail_kinds(&h).await,
        [AuditKind::AccountRegistered, AuditKind::RefreshTokenReused]
    );
}

async fn a_zero_interval_grants_no_grace_even_in_the_same_instant<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let first = first_token(alice.id, t0());
    start(&h, &first).await;
    let sessions = h.sessions();
    let second = successor_of(&first, at(60));
    let first_rotation = sessions
        .rotate(first.jti, second.clone(), Duration::zero(), reuse())
        .await
        .unwrap();

    let same_instant = sessions
        .rotate(
            first.jti,
            successor_of(&first, at(60)),
            Duration::zero(),
            reuse(),
        )
        .await
        .unwrap();

    assert_eq!(first_rotation, RotateOutcome::Rotated);
    assert_eq!(same_instant, RotateOutcome::Reused);
    assert_eq!(h.live_refresh_tokens_of(alice.id).await, [].into());
    assert_eq!(
        trail_kinds(&h).await.last(),
        Some(&AuditKind::RefreshTokenReused)
    );
}

async fn a_token_revoked_without_successor_is_revoked_and_an_unknown_one_unknown<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let token = first_token(alice.id, t0());
    start(&h, &token).await;
    h.sessions()
        .revoke_family(
            token.user_id,
            token.family_id,
            at(1),
            event(AuditKind::Logout),
        )
        .await
        .unwrap();
    let before = trail(&h).await;
    let (after_logout, unknown) = (successor_of(&token, at(2)), successor_of(&token, at(2)));

    let revoked = h
        .sessions()
        .rotate(
            token.jti,
            after_logout.clone(),
            Duration::seconds(10),
            reuse(),
        )
        .await
        .unwrap();
    let missing = h
        .sessions()
        .rotate(
            Uuid::new_v4(),
            unknown.clone(),
            Duration::seconds(10),
            reuse(),
        )
        .await
        .unwrap();

    assert_eq!(revoked, RotateOutcome::Revoked);
    assert_eq!(missing, RotateOutcome::Unknown);
    assert_eq!(h.sessions().find(after_logout.jti).await.unwrap(), None);
    assert_eq!(h.sessions().find(unknown.jti).await.unwrap(), None);
    let revoked_row = h.sessions().find(token.jti).await.unwrap().unwrap();
    assert_eq!(
        revoked_row.revoked_at,
        Some(at(1)),
        "left as the logout left it"
    );
    assert_eq!(trail(&h).await, before, "no reuse recorded");
}

async fn touching_a_token_marks_it_used<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let token = first_token(alice.id, t0());
    start(&h, &token).await;

    h.sessions().touch(token.jti, at(30)).await.unwrap();
    h.sessions().touch(Uuid::new_v4(), at(30)).await.unwrap();

    let touched = h.sessions().find(token.jti).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(at(30)));
    assert_eq!(touched.revoked_at, None);
    let listed = h.sessions().list_live(alice.id, at(31)).await.unwrap();
    assert_eq!(listed[0].last_used, at(30));
}

async fn revoking_a_family_counts_its_live_tokens_and_records_only_when_one_was_live<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let first = first_token(alice.id, t0());
    let other = first_token(alice.id, t0());
    start(&h, &first).await;
    start(&h, &other).await;
    let second = successor_of(&first, at(1));
    h.sessions()
        .rotate(first.jti, second.clone(), Duration::seconds(10), reuse())
        .await
        .unwrap();
    let logout = event(AuditKind::Logout).by_self(alice.id);
    let sessions = h.sessions();

    let revoked = sessions
        .revoke_family(first.user_id, first.family_id, at(5), logout.clone())
        .await
        .unwrap();
    let again = sessions
        .revoke_family(first.user_id, first.family_id, at(6), logout.clone())
        .await
        .unwrap();
    let unknown = sessions
        .revoke_family(first.user_id, Uuid::new_v4(), at(6), logout.clone())
        .await
        .unwrap();

    assert_eq!((revoked, again, unknown), (1, 0, 0));
    assert_eq!(
        sessions.find(second.jti).await.unwrap().unwrap().revoked_at,
        Some(at(5))
    );
    assert_eq!(
        sessions.find(first.jti).await.unwrap().unwrap().revoked_at,
        Some(at(1)),
        "a token revoked earlier keeps its time"
    );
    assert_eq!(h.live_refresh_tokens_of(alice.id).await, [other.jti].into());
    assert_eq!(
        trail_kinds(&h).await,
        [AuditKind::AccountRegistered, AuditKind::Logout]
    );
}

async fn revoking_all_of_a_users_sessions_keeps_the_one_asked_and_deletes_his_api_keys<
    H: Harness,
>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let (kept, ended) = (first_token(alice.id, t0()), first_token(alice.id, t0()));
    let bobs = first_token(bob.id, t0());
    for token in [&kept, &ended, &bobs] {
        start(&h, token).await;
    }
    add_key(&h, alice.id, b"alices-key").await;
    add_key(&h, bob.id, b"bobs-key").await;
    let everywhere = event(AuditKind::LogoutAll).by_self(alice.id);
    let sessions = h.sessions();

    let others = sessions
        .revoke_all_for_user(alice.id, Some(kept.family_id), at(5), everywhere.clone())
        .await
        .unwrap();

    assert_eq!(others, 1);
    assert_eq!(h.live_refresh_tokens_of(alice.id).await, [kept.jti].into());
    assert_eq!(
        sessions.find(ended.jti).await.unwrap().unwrap().revoked_at,
        Some(at(5))
    );
    assert_eq!(key_owner(&h, b"alices-key").await, None);
    assert_eq!(key_owner(&h, b"bobs-key").await, Some(bob.id));
    assert_eq!(h.live_refresh_tokens_of(bob.id).await, [bobs.jti].into());
    assert_eq!(trail(&h).await.last(), Some(&everywhere));

    let all = sessions
        .revoke_all_for_user(alice.id, None, at(6), everywhere.clone())
        .await
        .unwrap();
    let none_left = sessions
        .revoke_all_for_user(alice.id, None, at(7), everywhere.clone())
        .await
        .unwrap();

    assert_eq!((all, none_left), (1, 0));
    assert_eq!(h.live_refresh_tokens_of(alice.id).await, [].into());
    let logouts = trail_kinds(&h)
        .await
        .into_iter()
        .filter(|k| *k == AuditKind::LogoutAll)
        .count();
    assert_eq!(logouts, 3, "recorded each time, whatever was live");
}

async fn live_sessions_are_listed_newest_login_first_ties_by_jti<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let oldest = first_token(alice.id, at(0));
    let newest = first_token(alice.id, at(20));
    let mut tied: Vec<NewRefreshToken> = (0..4).map(|_| first_token(alice.id, at(10))).collect();
    for token in [&oldest, &newest].into_iter().chain(&tied) {
        start(&h, token).await;
    }
    let rotated = NewRefreshToken {
        user_agent: Some("after a refresh".to_owned()),
        ..successor_of(&oldest, at(30))
    };
    h.sessions()
        .rotate(oldest.jti, rotated.clone(), Duration::seconds(10), reuse())
        .await
        .unwrap();
    h.sessions().touch(rotated.jti, at(40)).await.unwrap();

    let listed = h.sessions().list_live(alice.id, at(50)).await.unwrap();

    tied.sort_by_key(|t| t.jti);
    let summary = |t: &NewRefreshToken, last_used| SessionSummary {
        id: t.family_id,
        created: t.session_started_at,
        last_used,
        user_agent: t.user_agent.clone(),
        ip: t.ip.clone(),
    };
    let mut expected = vec![summary(&newest, at(20))];
    expected.extend(tied.iter().map(|t| summary(t, at(10))));
    expected.push(summary(&rotated, at(40)));
    assert_eq!(listed, expected);
}

async fn revoked_and_expired_sessions_are_not_listed<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let live = first_token(alice.id, t0());
    let revoked = first_token(alice.id, t0());
    let expiring = NewRefreshToken {
        expires_at: at(100),
        ..first_token(alice.id, t0())
    };
    let bobs = first_token(bob.id, t0());
    for token in [&live, &revoked, &expiring, &bobs] {
        start(&h, token).await;
    }
    h.sessions()
        .revoke_family(
            revoked.user_id,
            revoked.family_id,
            at(1),
            event(AuditKind::Logout),
        )
        .await
        .unwrap();
    let ids = |summaries: Vec<SessionSummary>| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = summaries.into_iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    let mut both = vec![live.family_id, expiring.family_id];
    both.sort();

    let before_expiry = h.sessions().list_live(alice.id, at(99)).await.unwrap();
    let at_expiry = h.sessions().list_live(alice.id, at(100)).await.unwrap();

    assert_eq!(ids(before_expiry), both);
    assert_eq!(ids(at_expiry), [live.family_id], "expired at its expiry");
}

async fn a_session_of_another_user_is_not_revoked_from_ones_list<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let alices = first_token(alice.id, t0());
    start(&h, &alices).await;
    let revoke = event(AuditKind::SessionRevoked);
    let sessions = h.sessions();

    let by_bob = sessions
        .revoke_session(
            bob.id,
            alices.family_id,
            at(1),
            revoke.clone().by_self(bob.id),
        )
        .await
        .unwrap();

    assert!(!by_bob);
    assert_eq!(
        h.live_refresh_tokens_of(alice.id).await,
        [alices.jti].into()
    );
    assert_eq!(trail(&h).await.len(), 2, "the registrations only");

    let by_alice = sessions
        .revoke_session(
            alice.id,
            alices.family_id,
            at(2),
            revoke.clone().by_self(alice.id),
        )
        .await
        .unwrap();
    let again = sessions
        .revoke_session(
            alice.id,
            alices.family_id,
            at(3),
            revoke.clone().by_self(alice.id),
        )
        .await
        .unwrap();

    assert!(by_alice);
    assert!(!again, "no longer live");
    assert_eq!(
        sessions.find(alices.jti).await.unwrap().unwrap().revoked_at,
        Some(at(2))
    );
    assert_eq!(trail(&h).await.last(), Some(&revoke.by_self(alice.id)));
    assert_eq!(trail(&h).await.len(), 3);
}

async fn purging_deletes_the_tokens_expired_before_now_and_counts_them<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let expiring_at = |seconds| NewRefreshToken {
        expires_at: at(seconds),
        ..first_token(alice.id, t0())
    };
    let (expired, expiring_now, live) = (expiring_at(99), expiring_at(100), expiring_at(101));
    for token in [&expired, &expiring_now, &live] {
        start(&h, token).await;
    }

    let purged = h.sessions().purge_expired(at(100)).await.unwrap();

    assert_eq!(purged, 1);
    assert_eq!(h.sessions().find(expired.jti).await.unwrap(), None);
    assert!(h.sessions().find(expiring_now.jti).await.unwrap().is_some());
    assert!(h.sessions().find(live.jti).await.unwrap().is_some());
}

async fn a_session_whose_jti_is_taken_is_an_error_and_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let alices = first_token(alice.id, t0());
    start(&h, &alices).await;
    let before = trail(&h).await;
    let clash = NewRefreshToken {
        jti: alices.jti,
        ..first_token(bob.id, at(1))
    };

    let started = h
        .sessions()
        .start(clash.clone(), None, Some(event(AuditKind::LoginSucceeded)))
        .await;

    assert!(
        matches!(started, Err(RepositoryError::Unexpected(_))),
        "{started:?}"
    );
    assert_eq!(
        h.sessions().find(alices.jti).await.unwrap(),
        Some(stored(&alices))
    );
    assert_eq!(h.live_refresh_tokens_of(bob.id).await, [].into());
    assert_eq!(trail(&h).await, before);
}

async fn a_successor_whose_jti_is_taken_is_an_error_and_the_token_stays_live<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let (first, other) = (first_token(alice.id, t0()), first_token(alice.id, t0()));
    start(&h, &first).await;
    start(&h, &other).await;
    let clash = NewRefreshToken {
        jti: other.jti,
        ..successor_of(&first, at(1))
    };

    let rotated = h
        .sessions()
        .rotate(first.jti, clash, Duration::seconds(10), reuse())
        .await;

    assert!(
        matches!(rotated, Err(RepositoryError::Unexpected(_))),
        "{rotated:?}"
    );
    assert_eq!(
        h.sessions().find(first.jti).await.unwrap(),
        Some(stored(&first))
    );
    assert_eq!(
        h.sessions().find(other.jti).await.unwrap(),
        Some(stored(&other))
    );
}

/// The first token of a session opened from `parent`, keeping its start.
fn child_of(parent: &NewRefreshToken, at_: chrono::DateTime<chrono::Utc>) -> NewRefreshToken {
    NewRefreshToken {
        parent_session: Some(parent.family_id),
        created_at: at_,
        ..first_token(parent.user_id, parent.session_started_at)
    }
}

async fn a_live_sessions_start_is_read_and_an_ended_ones_is_not<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let first = first_token(alice.id, at(3));
    start(&h, &first).await;
    let second = successor_of(&first, at(4));
    let sessions = h.sessions();
    sessions
        .rotate(first.jti, second, Duration::seconds(10), reuse())
        .await
        .unwrap();

    assert_eq!(
        sessions
            .session_started_at(alice.id, first.family_id, at(6))
            .await
            .unwrap(),
        Some(at(3)),
        "the login's time, after a rotation too"
    );
    assert_eq!(
        sessions
            .session_started_at(alice.id, first.family_id, first.expires_at)
            .await
            .unwrap(),
        None,
        "not once its last token has expired"
    );
    assert_eq!(
        sessions
            .session_started_at(bob.id, first.family_id, at(6))
            .await
            .unwrap(),
        None,
        "not another user's"
    );
    let logout = event(AuditKind::Logout).by_self(alice.id);
    sessions
        .revoke_family(first.user_id, first.family_id, at(5), logout)
        .await
        .unwrap();
    assert_eq!(
        sessions
            .session_started_at(alice.id, first.family_id, at(6))
            .await
            .unwrap(),
        None
    );
}

async fn a_session_opened_from_another_starts_only_while_that_one_is_live<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let parent = first_token(alice.id, t0());
    start(&h, &parent).await;
    let sessions = h.sessions();

    let too_late = child_of(&parent, parent.expires_at);
    assert!(
        !sessions.start(too_late, None, None).await.unwrap(),
        "not from a session whose token has expired"
    );
    let child = child_of(&parent, at(5));
    assert!(sessions.start(child.clone(), None, None).await.unwrap());
    assert_eq!(
        sessions.find(child.jti).await.unwrap(),
        Some(stored(&child)),
        "its parent and start read back"
    );

    let logout = event(AuditKind::Logout).by_self(alice.id);
    sessions
        .revoke_family(parent.user_id, parent.family_id, at(6), logout)
        .await
        .unwrap();
    let late = child_of(&parent, at(7));
    assert!(!sessions.start(late.clone(), None, None).await.unwrap());
    assert_eq!(sessions.find(late.jti).await.unwrap(), None);
    let orphan = NewRefreshToken {
        parent_session: Some(Uuid::new_v4()),
        ..first_token(alice.id, t0())
    };
    assert!(!sessions.start(orphan, None, None).await.unwrap());
}

async fn ending_a_session_by_any_route_ends_the_sessions_opened_from_it_at_any_depth<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let sessions = h.sessions();
    // Three trees: parent → child → grandchild; each ended by another route.
    let mut trees = Vec::new();
    for _ in 0..3 {
        let parent = first_token(alice.id, t0());
        start(&h, &parent).await;
        let child = child_of(&parent, at(1));
        start(&h, &child).await;
        // The child rotates: its successor is of the same tree.
        let child_next = successor_of(&child, at(2));
        sessions
            .rotate(child.jti, child_next.clone(), Duration::zero(), reuse())
            .await
            .unwrap();
        let grandchild = child_of(&child_next, at(3));
        start(&h, &grandchild).await;
        trees.push((parent, child_next, grandchild));
    }
    let unrelated = first_token(alice.id, t0());
    start(&h, &unrelated).await;
    let (logged_out, revoked, reused) = (&trees[0], &trees[1], &trees[2]);

    let revoked_count = sessions
        .revoke_family(
            logged_out.0.user_id,
            logged_out.0.family_id,
            at(10),
            event(AuditKind::Logout).by_self(alice.id),
        )
        .await
        .unwrap();
    assert_eq!(
        revoked_count, 3,
        "the parent's, the child's and the grandchild's"
    );
    assert!(
        sessions
            .revoke_session(
                alice.id,
                revoked.0.family_id,
                at(10),
                event(AuditKind::SessionRevoked).by_self(alice.id),
            )
            .await
            .unwrap()
    );
    let parent_next = successor_of(&reused.0, at(4));
    sessions
        .rotate(reused.0.jti, parent_next.clone(), Duration::zero(), reuse())
        .await
        .unwrap();
    let replay = successor_of(&reused.0, at(10));
    let outcome = sessions
        .rotate(reused.0.jti, replay, Duration::zero(), reuse())
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Reused);

    assert_eq!(
        h.live_refresh_tokens_of(alice.id).await,
        [unrelated.jti].into(),
        "every tree ended whole; the unrelated session lives"
    );
    for (_, child, grandchild) in &trees {
        for token in [child, grandchild] {
            assert_eq!(
                sessions.find(token.jti).await.unwrap().unwrap().revoked_at,
                Some(at(10))
            );
        }
    }
}
