//! Email-driven flows end to end over real SMTP: password reset, activation, password
//! change, the outbox surviving a mail server outage.

use std::time::Duration;

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

const NEW_PASSWORD: &str = "a brand new passphrase";
const WAIT: Duration = Duration::from_secs(10);

async fn outbox_rows(app: &TestApp) -> i64 {
    app.db
        .scalar("SELECT count(*) AS value FROM email_outbox")
        .await
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link_and_every_session_dies() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    let (_, access, refresh) = app.signed_in_user("alice@example.com").await;
    let (_, other_refresh) = app.login("alice@example.com").await;

    let reply = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "ALICE@example.com" }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "If an active account uses this address, a password reset link has been sent to it." })
    );
    let email = mail.wait_for(1, WAIT).await.remove(0);
    assert_eq!(email.to, ["alice@example.com"]);
    assert_eq!(email.from, "no-reply@gatehouse.test");
    assert_eq!(email.subject(), "Password reset on Gatehouse");
    let link = email.links().remove(0);
    assert!(
        link.starts_with("http://frontend.test/reset-password/"),
        "{link}"
    );
    assert!(
        email.html().contains(&link),
        "the HTML part carries the link too"
    );
    let token = link_token(&email);

    let reply = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    for old in [&refresh, &other_refresh] {
        assert_token_not_valid(&app.refresh(old).await, "Token is blacklisted");
    }
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
    let old_login = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(old_login.status, StatusCode::UNAUTHORIZED);
    let new_login = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(new_login.status, StatusCode::OK);
    let notice = mail.wait_for(2, WAIT).await.remove(1);
    assert_eq!(notice.subject(), "Your password on Gatehouse was changed");
    assert!(notice.links().is_empty());
    for sent in mail.received() {
        assert!(
            !sent.data.contains(NEW_PASSWORD) && !sent.data.contains(PASSWORD),
            "no password in mail"
        );
    }
    let reused = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": "yet another passphrase" }),
        )
        .await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.body, json!({ "detail": "Invalid token." }));
}

#[tokio::test]
async fn a_reset_request_answers_the_same_for_unknown_inactive_and_known_addresses() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    app.register("known@example.com").await;
    app.register("sleeper@example.com").await;
    app.db
        .execute("UPDATE users SET is_active = false WHERE email = 'sleeper@example.com'")
        .await;

    let unknown = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    let inactive = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "sleeper@example.com" }),
        )
        .await;
    assert_eq!(
        outbox_rows(&app).await,
        0,
        "strangers and inactive accounts are mailed nothing"
    );
    let known = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "known@example.com" }),
        )
        .await;

    for reply in [&unknown, &inactive, &known] {
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, known.body);
    }
    assert_eq!(outbox_rows(&app).await, 1);
    assert_eq!(mail.wait_for(1, WAIT).await[0].to, ["known@example.com"]);
}

#[tokio::test]
async fn reveal_unknown_email_makes_an_unknown_address_a_404() {
    let (app, _mail) = spawn_app_with_mail(|s| s.email.links.reveal_unknown_email = true).await;
    let reply = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        json!({ "detail": "No active account uses this email address." })
    );
}

#[tokio::test]
async fn a_reset_request_needs_a_well_formed_email() {
    let (app, _mail) = spawn_app_with_mail(|_| {}).await;
    let reply = app.post("/auth/reset-password/", json!({})).await;
    assert_eq!(reply.body, json!({ "email": ["This field is required."] }));
    let reply = app
        .post("/auth/reset-password/", json!({ "email": "not-an-email" }))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({ "email": ["Enter a valid email address."] })
    );
}

/// Registers `email`, asks for a reset and returns the emailed token.
async fn reset_token_for(
    app: &TestApp,
    mail: &infrastructure::testing::SmtpCatcher,
    email: &str,
) -> String {
    let before = mail.received().len();
    app.post("/auth/reset-password/", json!({ "email": email }))
        .await;
    link_token(&mail.wait_for(before + 1, WAIT).await[before])
}

#[tokio::test]
async fn an_expired_reset_token_says_so() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    app.register("bob@example.com").await;
    let token = reset_token_for(&app, &mail, "bob@example.com").await;
    app.db
        .execute("UPDATE one_time_tokens SET expires_at = now() - interval '1 second'")
        .await;
    let reply = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body, json!({ "detail": "Token has expired." }));
}

#[tokio::test]
async fn tampered_and_unknown_reset_tokens_are_invalid_and_weak_passwords_get_djangos_messages() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    app.register("carl@example.com").await;
    let token = reset_token_for(&app, &mail, "carl@example.com").await;
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    for bad in [tampered.as_str(), "garbage", &"x".repeat(300)] {
        let reply = app
            .post(
                &format!("/auth/reset-password/{bad}/"),
                json!({ "password": NEW_PASSWORD }),
            )
            .await;
        assert_eq!(reply.body, json!({ "detail": "Invalid token." }), "{bad}");
    }
    let weak = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "new_password": "12345678" }),
        )
        .await;
    assert_eq!(
        weak.body,
        json!({ "new_password": ["This password is too common.", "This password is entirely numeric."] })
    );
    // Sent as `password`, the refusal is told under `password`.
    let weak = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": "12345678" }),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        weak.body,
        json!({ "password": ["This password is too common.", "This password is entirely numeric."] })
    );
    let ok = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "a refused weak password leaves the token usable"
    );
}

#[tokio::test]
async fn a_newer_reset_request_and_a_password_change_kill_older_reset_links() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    let (_, access, _) = app.signed_in_user("dora@example.com").await;
    let first = reset_token_for(&app, &mail, "dora@example.com").await;
    let second = reset_token_for(&app, &mail, "dora@example.com").await;
    let reply = app
        .post(
            &format!("/auth/reset-password/{first}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({ "detail": "Invalid token." }),
        "only the newest link works"
    );

    let change = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "old_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.text);

    let reply = app
        .post(
            &format!("/auth/reset-password/{second}/"),
            json!({ "password": "third passphrase here" }),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({ "detail": "Invalid token." }),
        "a password change kills reset links"
    );
}

#[tokio::test]
async fn a_reset_token_only_resets_its_own_user() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    let (_, eve_access, _) = app.signed_in_user("eve@example.com").await;
    app.register("fay@example.com").await;
    let fays = reset_token_for(&app, &mail, "fay@example.com").await;
    // Eve, signed in, presents Fay's token: it sets Fay's password, not hers.
    let request = app
        .client
        .post(app.url(&format!("/auth/reset-password/{fays}/")))
        .bearer_auth(&eve_access);
    let reply = Reply::read(
        request
            .json(&json!({ "password": NEW_PASSWORD }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let fay = app
        .post(
            "/auth/token/",
            json!({ "email": "fay@example.com", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(fay.status, StatusCode::OK);
    let eve = app
        .post(
            "/auth/token/",
            json!({ "email": "eve@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(eve.status, StatusCode::OK, "Eve's password is untouched");
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_a_delivered_message_keeps_no_usable_link() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    app.register("gus@example.com").await;
    let token = reset_token_for(&app, &mail, "gus@example.com").await;
    // The worker records the delivery right after the server accepted it.
    let mut wiped = 0;
    for _ in 0..100 {
        wiped = app.db.scalar("SELECT count(*) AS value FROM email_outbox WHERE sent_at IS NOT NULL AND body_text = '' AND body_html = ''").await;
        if wiped == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(wiped, 1);
    let leaks = format!(
        "SELECT count(*) AS value FROM email_outbox WHERE body_text LIKE '%{token}%' OR body_html LIKE '%{token}%' OR subject LIKE '%{token}%'"
    );
    assert_eq!(app.db.scalar(&leaks).await, 0);
    let stored_raw = format!(
        // On bytes: a digest is arbitrary binary, which no text encoding need accept.
        "SELECT count(*) AS value FROM one_time_tokens \
         WHERE position(convert_to('{token}', 'UTF8') IN token_hash) > 0 OR token_hash = convert_to('{token}', 'UTF8')"
    );
    assert_eq!(app.db.scalar(&stored_raw).await, 0);
    let by_digest = format!(
        "SELECT count(*) AS value FROM one_time_tokens WHERE token_hash = sha256('{token}'::bytea)"
    );
    assert_eq!(app.db.scalar(&by_digest).await, 1, "stored as its SHA-256");
}

#[tokio::test]
async fn with_activation_required_a_new_account_is_activated_through_the_emailed_link() {
    let (app, mail) = spawn_app_with_mail(|s| s.registration.require_activation = true).await;

    let reply = app
        .post(
            "/auth/register/",
            json!({ "email": "hal@example.com", "password": PASSWORD }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["is_active"], false);
    assert!(reply.body.get("tokens").is_none());
    let login = json!({ "email": "hal@example.com", "password": PASSWORD });
    let refused = app.post("/auth/token/", login.clone()).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.body,
        json!({ "detail": "No active account found with the given credentials" })
    );
    let email = mail.wait_for(1, WAIT).await.remove(0);
    assert_eq!(email.subject(), "Activate your account on Gatehouse");
    assert!(
        email.links()[0].starts_with("http://frontend.test/activate/"),
        "{:?}",
        email.links()
    );
    let token = link_token(&email);
    let wrong_purpose = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        wrong_purpose.body,
        json!({ "detail": "Invalid token." }),
        "an activation token never resets"
    );

    let activated = app
        .post(&format!("/auth/activate/{token}/"), json!({}))
        .await;

    assert_eq!(activated.status, StatusCode::OK, "{}", activated.text);
    assert_eq!(app.post("/auth/token/", login).await.status, StatusCode::OK);
    assert_eq!(
        mail.wait_for(2, WAIT).await[1].subject(),
        "Your account on Gatehouse is active"
    );
    let again = app
        .post(&format!("/auth/activate/{token}/"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body, json!({ "detail": "Invalid token." }));
}

#[tokio::test]
async fn a_reset_token_never_activates_and_an_expired_activation_says_so() {
    let (app, mail) = spawn_app_with_mail(|s| s.registration.require_activation = true).await;
    app.post(
        "/auth/register/",
        json!({ "email": "ida@example.com", "password": PASSWORD }),
    )
    .await;
    let activation = link_token(&mail.wait_for(1, WAIT).await[0]);
    app.db
        .execute("UPDATE users SET is_active = true WHERE email = 'ida@example.com'")
        .await;
    let reset = reset_token_for(&app, &mail, "ida@example.com").await;
    app.db
        .execute("UPDATE users SET is_active = false WHERE email = 'ida@example.com'")
        .await;
    let reply = app
        .post(&format!("/auth/activate/{reset}/"), json!({}))
        .await;
    assert_eq!(reply.body, json!({ "detail": "Invalid token." }));
    app.db.execute("UPDATE one_time_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'activation'").await;
    let reply = app
        .post(&format!("/auth/activate/{activation}/"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body, json!({ "detail": "Token has expired." }));
}

#[tokio::test]
async fn resend_activation_answers_alike_and_mails_only_an_inactive_account() {
    let (app, mail) = spawn_app_with_mail(|s| s.registration.require_activation = true).await;
    app.post(
        "/auth/register/",
        json!({ "email": "jon@example.com", "password": PASSWORD }),
    )
    .await;
    app.post(
        "/auth/register/",
        json!({ "email": "kim@example.com", "password": PASSWORD }),
    )
    .await;
    let first = link_token(&mail.wait_for(2, WAIT).await[0]);
    app.post(
        &format!("/auth/activate/{}/", link_token(&mail.received()[1])),
        json!({}),
    )
    .await;
    let rows = outbox_rows(&app).await;

    let unknown = app
        .post(
            "/auth/activate/resend/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    let active = app
        .post(
            "/auth/activate/resend/",
            json!({ "email": "kim@example.com" }),
        )
        .await;
    assert_eq!(
        outbox_rows(&app).await,
        rows,
        "nothing for strangers or active accounts"
    );
    let inactive = app
        .post(
            "/auth/activate/resend/",
            json!({ "email": "jon@example.com" }),
        )
        .await;

    for reply in [&unknown, &active, &inactive] {
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, inactive.body);
    }
    assert_eq!(outbox_rows(&app).await, rows + 1);
    let resent = mail
        .wait_for(4, WAIT)
        .await
        .into_iter()
        .find(|m| m.to == ["jon@example.com"] && link_token(m) != first);
    let token = link_token(&resent.expect("a second activation email to jon"));
    let stale = app
        .post(&format!("/auth/activate/{first}/"), json!({}))
        .await;
    assert_eq!(
        stale.body,
        json!({ "detail": "Invalid token." }),
        "the older link is retired"
    );
    assert_eq!(
        app.post(&format!("/auth/activate/{token}/"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn change_password_checks_the_old_one_and_validates_the_new_one() {
    let (app, _mail) = spawn_app_with_mail(|_| {}).await;
    let (_, access, _) = app.signed_in_user("lea@example.com").await;
    let wrong = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "old_password": "nope", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.body, json!({ "old_password": ["Invalid password."] }));
    let wrong = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "current_password": "nope", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        wrong.body,
        json!({ "current_password": ["Invalid password."] })
    );
    let weak = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "old_password": PASSWORD, "new_password": "lea@example.com" }),
        )
        .await;
    assert_eq!(
        weak.body,
        json!({ "new_password": ["The password is too similar to the username."] })
    );
    let missing = app
        .post_authed("/auth/change-password/", &access, json!({}))
        .await;
    assert_eq!(
        missing.body,
        json!({ "old_password": ["This field is required."], "new_password": ["This field is required."] })
    );
    let anonymous = app.post("/auth/change-password/", json!({})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn change_password_ends_other_sessions_and_older_access_tokens_but_keeps_this_session() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    let (_, old_access, _) = app.signed_in_user("max@example.com").await;
    let (other_access, other_refresh) = app.login("max@example.com").await;
    let (access, refresh) = app.login("max@example.com").await;
    // `iat` has whole seconds: let every token so far be from an earlier second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let reply = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "Password updated successfully." })
    );
    assert_token_not_valid(&app.refresh(&other_refresh).await, "Token is blacklisted");
    assert_access_token_rejected(&app.me(&other_access).await, "Token is blacklisted");
    assert_access_token_rejected(&app.me(&old_access).await, "Token is blacklisted");
    // This session goes on, but its access token from before the change does not.
    let stale = app.me(&access).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        stale.body,
        json!({ "detail": "The user's password has been changed.", "code": "password_changed" })
    );
    let renewed = app.refresh(&refresh).await;
    assert_eq!(
        renewed.status,
        StatusCode::OK,
        "this session survives: {}",
        renewed.text
    );
    assert_eq!(
        app.me(&str_of(&renewed.body, "access")).await.status,
        StatusCode::OK
    );
    let login = app
        .post(
            "/auth/token/",
            json!({ "email": "max@example.com", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(
        mail.wait_for(1, WAIT).await[0].subject(),
        "Your password on Gatehouse was changed"
    );
}

#[tokio::test]
async fn change_password_can_keep_the_other_sessions() {
    let (app, _mail) =
        spawn_app_with_mail(|s| s.passwords.change.change_revokes_other_sessions = false).await;
    let (_, access, _) = app.signed_in_user("ned@example.com").await;
    let (_, other_refresh) = app.login("ned@example.com").await;
    let reply = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "old_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let other = app.refresh(&other_refresh).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert_eq!(
        app.me(&str_of(&other.body, "access")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_mail_server_outage_delays_messages_but_loses_none() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    app.register("ola@example.com").await;
    app.register("pat@example.com").await;
    mail.stop();

    for email in ["ola@example.com", "pat@example.com"] {
        let reply = app
            .post("/auth/reset-password/", json!({ "email": email }))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "the request never waits on SMTP"
        );
    }
    let mut failed = 0;
    for _ in 0..100 {
        failed = app.db.scalar("SELECT count(*) AS value FROM email_outbox WHERE sent_at IS NULL AND last_error IS NOT NULL").await;
        if failed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed, 2, "both deliveries were tried and failed");
    assert!(mail.received().is_empty());

    mail.resume().await;

    let delivered = mail.wait_for(2, WAIT).await;
    let mut recipients: Vec<_> = delivered.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    assert_eq!(recipients, ["ola@example.com", "pat@example.com"]);
    let token = link_token(&delivered[0]);
    let reply = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "a delayed link still works");
}

#[tokio::test]
async fn an_account_deactivated_by_an_administrator_cannot_reactivate_itself() {
    let (app, mail) = spawn_app_with_mail(|s| s.registration.require_activation = true).await;
    // The administrator: registered, then made an active staff superuser by hand.
    let root_id = app.register("root@example.com").await["id"]
        .as_i64()
        .unwrap();
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = true, pending_activation = false, \
             is_staff = true, is_superuser = true WHERE id = {root_id}"
        ))
        .await;
    let (root, _) = app.login("root@example.com").await;
    let quin = app.register("quin@example.com").await["id"]
        .as_i64()
        .unwrap();
    let rex = app.register("rex@example.com").await["id"]
        .as_i64()
        .unwrap();
    let delivered = mail.wait_for(3, WAIT).await;
    let quins = link_token(
        delivered
            .iter()
            .find(|m| m.to == ["quin@example.com"])
            .unwrap(),
    );
    let rexs = link_token(
        delivered
            .iter()
            .find(|m| m.to == ["rex@example.com"])
            .unwrap(),
    );
    assert_eq!(
        app.post(&format!("/auth/activate/{quins}/"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
    // The administrator deactivates Quin (active) and Rex (still pending).
    for id in [quin, rex] {
        let reply = call(
            &app,
            reqwest::Method::PATCH,
            &format!("/auth/users/{id}/"),
            &root,
            Some(json!({ "is_active": false })),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["is_active"], false);
    }
    let rows = outbox_rows(&app).await;

    let resend = app
        .post(
            "/auth/activate/resend/",
            json!({ "email": "quin@example.com" }),
        )
        .await;
    assert_eq!(resend.status, StatusCode::OK, "the answer is the usual one");
    assert_eq!(outbox_rows(&app).await, rows, "but no link is sent");
    let reply = app
        .post(&format!("/auth/activate/{rexs}/"), json!({}))
        .await;
    assert_eq!(
        reply.body,
        json!({ "detail": "Invalid token." }),
        "an old link no longer activates"
    );
    let active = "SELECT count(*) AS value FROM users WHERE is_active \
                  AND email IN ('quin@example.com', 'rex@example.com')";
    assert_eq!(app.db.scalar(active).await, 0);
}

#[tokio::test]
async fn repeated_reset_requests_mail_one_link_per_interval_and_it_keeps_working() {
    let (app, mail) =
        spawn_app_with_mail(|s| s.email.links.min_resend_interval = chrono::Duration::minutes(1))
            .await;
    app.register("sue@example.com").await;

    let replies = futures_util::future::join_all((0..5).map(|_| {
        app.post(
            "/auth/reset-password/",
            json!({ "email": "sue@example.com" }),
        )
    }))
    .await;

    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, replies[0].body);
    }
    assert_eq!(outbox_rows(&app).await, 1, "one email for five requests");
    let token = link_token(&mail.wait_for(1, WAIT).await[0]);
    let reply = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the one link sent was not retired"
    );
}

/// Polls until `sql` (a count) is at least `count`; panics after `WAIT`.
async fn eventually(app: &TestApp, count: i64, sql: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.db.scalar(sql).await < count {
        assert!(tokio::time::Instant::now() < deadline, "never: {sql}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until the catcher has seen `count` attempts to mail `address`.
async fn attempts_reach(mail: &infrastructure::testing::SmtpCatcher, address: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while mail.attempts_for(address) < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} attempt(s) to mail {address}, expected {count}",
            mail.attempts_for(address)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_recipient_the_mail_server_refuses_for_good_is_failed_at_once_and_can_be_requeued() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    app.register("gone@example.com").await;
    mail.refuse("gone@example.com", "550 5.1.1 No such user here");

    let reply = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "gone@example.com" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    attempts_reach(&mail, "gone@example.com", 1).await;
    // Retries back off at most 1 s here: three seconds would see two more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mail.attempts_for("gone@example.com"), 1, "never retried");
    eventually(
        &app,
        1,
        "SELECT count(*) AS value FROM email_outbox \
         WHERE failed_at IS NOT NULL AND sent_at IS NULL AND attempts = 1",
    )
    .await;
    let error = app
        .db
        .text("SELECT last_error AS value FROM email_outbox")
        .await
        .unwrap_or_default();
    assert!(error.contains("550"), "{error}");

    // The runbook's requeue, once the address works again.
    mail.accept("gone@example.com");
    app.db
        .execute(
            "UPDATE email_outbox SET failed_at = NULL, attempts = 0, refusals = 0, \
             next_attempt_at = now() WHERE failed_at IS NOT NULL",
        )
        .await;
    let delivered = mail.wait_for(1, WAIT).await;
    assert_eq!(delivered[0].to, ["gone@example.com"]);
}

#[tokio::test]
async fn a_recipient_refused_for_now_is_retried_then_failed_after_max_attempts() {
    let (app, mail) = spawn_app_with_mail(|s| s.email.outbox.max_attempts = 3).await;
    app.register("full@example.com").await;
    mail.refuse("full@example.com", "452 4.2.2 Mailbox full");

    app.post(
        "/auth/reset-password/",
        json!({ "email": "full@example.com" }),
    )
    .await;
    attempts_reach(&mail, "full@example.com", 3).await;
    // The fourth would come within 1 s (the backoff ceiling here).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        mail.attempts_for("full@example.com"),
        3,
        "no fourth attempt"
    );
    eventually(
        &app,
        1,
        "SELECT count(*) AS value FROM email_outbox \
         WHERE failed_at IS NOT NULL AND refusals = 3 AND last_error LIKE '%452%'",
    )
    .await;
    assert!(mail.received().is_empty());
}

#[tokio::test]
async fn an_outage_outlasting_max_attempts_fails_nothing_but_max_delivery_time_does() {
    let (app, mail) = spawn_app_with_mail(|s| s.email.outbox.max_attempts = 1).await;
    app.register("ola@example.com").await;
    app.register("pat@example.com").await;
    mail.stop();
    for email in ["ola@example.com", "pat@example.com"] {
        app.post("/auth/reset-password/", json!({ "email": email }))
            .await;
    }
    eventually(
        &app,
        2,
        "SELECT count(*) AS value FROM email_outbox WHERE attempts >= 3",
    )
    .await;
    assert_eq!(
        app.db
            .scalar("SELECT count(*) AS value FROM email_outbox WHERE failed_at IS NOT NULL")
            .await,
        0,
        "an unreachable server says nothing about the messages"
    );

    // One message has waited longer than email.max_delivery_time (3 days).
    app.db
        .execute(
            "UPDATE email_outbox SET created_at = now() - interval '3 days 1 minute' \
             WHERE recipient = 'pat@example.com'",
        )
        .await;
    eventually(
        &app,
        1,
        "SELECT count(*) AS value FROM email_outbox \
         WHERE recipient = 'pat@example.com' AND failed_at IS NOT NULL",
    )
    .await;

    mail.resume().await;
    let delivered = mail.wait_for(1, WAIT).await;
    assert_eq!(delivered[0].to, ["ola@example.com"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mail.received().len(), 1, "the expired one stays failed");
}
