//! Tokens SimpleJWT signed before the switch (no `sid`): a refresh token its import
//! stored is accepted once and rotates into a Gatehouse session; an access token passes
//! the same checks as Gatehouse's own, but the session's, until it expires.

use crate::support::{Fakes, default_gatehouse, log_in, refresh};
use application::TokenRejection;
use application::use_cases::authenticate::{AuthenticateError, Credential};
use application::use_cases::refresh::RefreshError;
use chrono::Duration;
use domain::ports::{Clock, TokenCodec};
use domain::{Claims, RefreshTokenRecord, TokenType, User};
use uuid::Uuid;

/// A token as SimpleJWT writes it: no `sid`, no user claims; signed now for SimpleJWT's
/// default lifetimes (the same as Gatehouse's).
fn simplejwt_token(fakes: &Fakes, token_type: TokenType, jti: Uuid, user: &User) -> String {
    let now = fakes.clock.now().timestamp();
    let lifetime = match token_type {
        TokenType::Access => 5 * 60,
        TokenType::Refresh => 24 * 3600,
    };
    fakes
        .tokens
        .encode(&Claims {
            token_type,
            exp: now + lifetime,
            iat: now,
            jti: jti.simple().to_string(),
            user_id: user.id.to_string(),
            sid: None,
            user: None,
        })
        .unwrap()
}

/// An outstanding SimpleJWT refresh token as the import stores it, and the token.
fn imported_refresh_token(fakes: &Fakes, user: &User, blacklisted: bool) -> (Uuid, String) {
    let jti = Uuid::new_v4();
    let now = fakes.clock.now();
    fakes.store.insert_refresh_token(RefreshTokenRecord {
        jti,
        user_id: user.id,
        family_id: jti,
        parent_jti: None,
        created_at: now - Duration::minutes(1),
        expires_at: now + Duration::hours(1),
        session_started_at: now - Duration::minutes(1),
        revoked_at: blacklisted.then_some(now - Duration::seconds(30)),
        replaced_by: None,
        last_used_at: None,
        user_agent: None,
        ip: None,
        parent_session: None,
        from_simplejwt: true,
    });
    (jti, simplejwt_token(fakes, TokenType::Refresh, jti, user))
}

#[track_caller]
fn rejection<T: std::fmt::Debug>(result: Result<T, RefreshError>) -> TokenRejection {
    match result {
        Err(RefreshError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn an_imported_simplejwt_refresh_token_rotates_once_into_a_gatehouse_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let (jti, token) = imported_refresh_token(&fakes, &alice, false);

    let refreshed = refresh(&gatehouse, &token).await.expect("refreshed");

    let next = refreshed.refresh.expect("a rotated refresh token");
    let claims = fakes.claims(&next);
    assert_eq!(
        claims.sid,
        Some(jti.simple().to_string()),
        "the session is the imported token's"
    );
    assert_eq!(fakes.claims(&refreshed.access).sid, claims.sid);
    assert_eq!(
        fakes.claims(&refreshed.access).user_id,
        alice.id.to_string()
    );
    let imported = fakes.store.token(jti).unwrap();
    assert!(imported.revoked_at.is_some());
    assert_eq!(imported.replaced_by, Some(fakes.jti(&next)));
    gatehouse
        .authenticate(&refreshed.access)
        .await
        .expect("the new access token works");

    // From here on it is a Gatehouse session: the successor rotates…
    fakes.clock.advance(Duration::minutes(1));
    let later = refresh(&gatehouse, &next).await.expect("rotates");
    // …and the SimpleJWT token, presented again after the grace, is reuse: the whole
    // session ends.
    assert_eq!(
        rejection(refresh(&gatehouse, &token).await),
        TokenRejection::Blacklisted
    );
    assert_eq!(
        rejection(refresh(&gatehouse, &later.refresh.unwrap()).await),
        TokenRejection::Blacklisted
    );
}

#[tokio::test]
async fn a_blacklisted_or_unknown_simplejwt_refresh_token_is_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let (_, blacklisted) = imported_refresh_token(&fakes, &alice, true);
    let unknown = simplejwt_token(&fakes, TokenType::Refresh, Uuid::new_v4(), &alice);

    assert_eq!(
        rejection(refresh(&gatehouse, &blacklisted).await),
        TokenRejection::Blacklisted
    );
    assert_eq!(
        rejection(refresh(&gatehouse, &unknown).await),
        TokenRejection::Invalid
    );
}

#[tokio::test]
async fn only_an_imported_row_stands_for_a_token_without_a_session_and_only_for_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let mallory = fakes.add_user("mallory", "mallory@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let (jti, _) = imported_refresh_token(&fakes, &alice, false);

    // A Gatehouse token stripped of its session is not SimpleJWT's.
    let stripped = simplejwt_token(&fakes, TokenType::Refresh, fakes.jti(&pair.refresh), &alice);
    // A token naming the imported row with a session is not SimpleJWT's either.
    let mut with_sid = fakes.claims(&simplejwt_token(&fakes, TokenType::Refresh, jti, &alice));
    with_sid.sid = Some(jti.simple().to_string());
    let with_sid = fakes.tokens.encode(&with_sid).unwrap();
    // Nor is it another user's.
    let of_another = simplejwt_token(&fakes, TokenType::Refresh, jti, &mallory);

    for token in [stripped, with_sid, of_another] {
        assert_eq!(
            rejection(refresh(&gatehouse, &token).await),
            TokenRejection::Invalid
        );
    }
    assert_eq!(fakes.store.token(jti).unwrap().revoked_at, None);
    assert_eq!(
        fakes
            .store
            .token(fakes.jti(&pair.refresh))
            .unwrap()
            .revoked_at,
        None
    );
}

#[tokio::test]
async fn a_simplejwt_refresh_token_of_an_inactive_user_opens_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let (jti, token) = imported_refresh_token(&fakes, &alice, false);
    fakes
        .store
        .update_user(alice.id, |user| user.is_active = false);

    assert!(matches!(
        refresh(&gatehouse, &token).await,
        Err(RefreshError::NoActiveAccount)
    ));
    assert_eq!(fakes.store.token(jti).unwrap().revoked_at, None);
}

/// A user an import carried over a second after he joined (his password is older
/// than the tokens SimpleJWT signed for him), and the import's start.
fn imported_user(fakes: &Fakes, name: &str) -> User {
    let user = fakes.add_user(name, &format!("{name}@example.com"));
    fakes.clock.advance(Duration::seconds(1));
    fakes.store.mark_imported(user.id, fakes.clock.now());
    user
}

#[tokio::test]
async fn a_simplejwt_access_token_passes_the_users_checks_without_a_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = imported_user(&fakes, "alice");
    let access = simplejwt_token(&fakes, TokenType::Access, Uuid::new_v4(), &alice);

    let principal = gatehouse.authenticate(&access).await.expect("accepted");
    assert_eq!(principal.profile.user.id, alice.id);
    assert_eq!(
        principal.credential,
        Credential::AccessToken {
            session: None,
            claims: fakes.claims(&access),
        }
    );
    gatehouse.verify(&access).await.expect("verifies");

    // A password changed since it was signed ends it, as it ends Gatehouse's own, and
    // so does one changed in the second it was signed: no session stands for it.
    fakes.store.update_user(alice.id, |user| {
        user.password_changed_at = fakes.clock.now()
    });
    assert!(matches!(
        gatehouse.authenticate(&access).await,
        Err(AuthenticateError::PasswordChanged)
    ));

    // A deactivation ends it too.
    let bob = imported_user(&fakes, "bob");
    let access = simplejwt_token(&fakes, TokenType::Access, Uuid::new_v4(), &bob);
    gatehouse.authenticate(&access).await.expect("accepted");
    fakes
        .store
        .update_user(bob.id, |user| user.is_active = false);
    assert!(matches!(
        gatehouse.authenticate(&access).await,
        Err(AuthenticateError::UserInactive)
    ));

    // It expires as SimpleJWT signed it.
    let carol = imported_user(&fakes, "carol");
    let access = simplejwt_token(&fakes, TokenType::Access, Uuid::new_v4(), &carol);
    fakes.clock.advance(Duration::minutes(6));
    assert!(matches!(
        gatehouse.authenticate(&access).await,
        Err(AuthenticateError::Token(TokenRejection::Expired))
    ));
}

#[tokio::test]
async fn the_signing_key_alone_lets_no_one_in_without_a_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = imported_user(&fakes, "alice");
    // A user of Gatehouse's own, never imported: a token without a session names him.
    let root = fakes.add_user("root", "root@example.com");
    fakes.clock.advance(Duration::seconds(1));
    let invalid = |result| {
        assert!(
            matches!(
                result,
                Err(AuthenticateError::Token(TokenRejection::Invalid))
            ),
            "{result:?}"
        );
    };

    invalid(
        gatehouse
            .authenticate(&simplejwt_token(
                &fakes,
                TokenType::Access,
                Uuid::new_v4(),
                &root,
            ))
            .await,
    );

    // Signed after the import started: not SimpleJWT's from before the switch.
    invalid(
        gatehouse
            .authenticate(&simplejwt_token(
                &fakes,
                TokenType::Access,
                Uuid::new_v4(),
                &alice,
            ))
            .await,
    );

    // Signed before it, but to live longer than Gatehouse's access tokens do.
    let mut claims = fakes.claims(&simplejwt_token(
        &fakes,
        TokenType::Access,
        Uuid::new_v4(),
        &alice,
    ));
    claims.iat -= 1;
    claims.exp = claims.iat + 5 * 60 + 1;
    invalid(
        gatehouse
            .authenticate(&fakes.tokens.encode(&claims).unwrap())
            .await,
    );
    claims.exp -= 1;
    gatehouse
        .authenticate(&fakes.tokens.encode(&claims).unwrap())
        .await
        .expect("one that lives as long is accepted");
}
